"""Short ids: tables show 8 characters, and any unique prefix is accepted where an id is.

An ambiguous or unknown prefix is an error (exit 1) naming the candidates, never a guess;
text that can be neither an id nor a prefix is a usage error (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from statewave_server.cli.output import usage_error
from statewave_server.cli.remote import fail

_PREFIX = re.compile(r"^[0-9a-f-]{1,64}$")


def resolve(
    raw: str, noun: str, is_full: Callable[[str], bool], matches: Callable[[str], list[str]]
) -> str:
    """``raw`` itself when it is a whole id, else the one id it starts; ``matches(prefix)``
    returns up to two ids starting with the prefix."""
    if is_full(raw.strip()):
        return raw.strip()
    value = raw.strip().lower()
    if not _PREFIX.match(value):
        usage_error(f"{raw!r} is not a {noun} id or id prefix (hex digits)")
    found = matches(value)
    if not found:
        fail(f"no {noun} id starts with {raw!r}")
    if len(found) > 1:
        fail(f"{raw!r} names more than one {noun} ({', '.join(found)}, …): give more characters")
    return found[0]
