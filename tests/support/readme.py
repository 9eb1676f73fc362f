"""The README's tagged examples (``<!-- readme-test: KIND -->`` before a code block)."""

from __future__ import annotations

import re

from devtools.postgres import REPO_ROOT

_BLOCK = re.compile(r"<!-- readme-test: (\w+) -->\n```\w+\n(.*?)```", re.S)


def readme_blocks(kind: str) -> list[str]:
    """The bodies of the README's code blocks tagged ``kind`` (at least one)."""
    blocks = [
        body for tag, body in _BLOCK.findall((REPO_ROOT / "README.md").read_text()) if tag == kind
    ]
    assert blocks, f"README has no '{kind}' example"
    return blocks
