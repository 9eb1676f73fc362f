"""The version compatibility matrix, as data, and the revision chain it refers to.

The schema guard, preflight and ``/ops/migrations`` all read this module, and a test checks
that the README's copy of the table is exactly :func:`render_markdown_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic.script import ScriptDirectory

import statewave_server
from statewave_server.db.migrate import alembic_config


@dataclass(frozen=True)
class MatrixRow:
    """One app version: the head it ships and the oldest revision its code still runs on.

    Revisions may be written as unique prefixes (Alembic resolves them the same way).
    """

    app_version: str
    expected_head: str
    min_compatible: str

    def resolved(self, chain: Chain) -> dict[str, str]:
        """The row with its prefixes resolved to full revision ids."""
        return {
            "app_version": self.app_version,
            "expected_head": chain.resolve(self.expected_head),
            "min_compatible": chain.resolve(self.min_compatible),
        }


# Newest first, exactly as the runbook's "Version compatibility matrix".
COMPATIBILITY_MATRIX: tuple[MatrixRow, ...] = (
    MatrixRow("0.6.1", "0012_add_health_cache", "0012_add_health_cache"),
    MatrixRow("0.6.0", "0012_add_health_cache", "0010"),
    MatrixRow("0.5.0", "0009_add_rate_limit_table", "0009_add_rate_limit_table"),
    MatrixRow("0.4.0", "0008_add_tenant_id_columns", "0005"),
    MatrixRow("0.3.0", "0005_webhook_events", "0004"),
    MatrixRow("0.2.0", "0004_embedding_as_text", "0001"),
    MatrixRow("0.1.0", "0001", "0001"),
)

_HEADER = ("App Version", "Expected Head Revision", "Min Compatible Revision")


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of the chain with the safety flags its module declares."""

    revision: str
    path: Path
    additive: bool
    downgrade_loses_data: bool


@dataclass(frozen=True)
class Chain:
    """The revision chain base → head, plus the heads Alembic sees (one when healthy)."""

    revisions: tuple[RevisionInfo, ...]
    heads: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        return [r.revision for r in self.revisions]

    def index(self, revision: str) -> int:
        """Position of a full revision id in the chain (``ValueError`` if absent)."""
        return self.ids.index(revision)

    def resolve(self, prefix: str) -> str:
        """The one revision id starting with ``prefix``; ``LookupError`` if none or several."""
        matches = [rev for rev in self.ids if rev.startswith(prefix)]
        if len(matches) != 1:
            raise LookupError(f"revision prefix {prefix!r} matches {len(matches)} revisions")
        return matches[0]

    def info(self, revision: str) -> RevisionInfo:
        return self.revisions[self.index(revision)]


def script_directory() -> ScriptDirectory:
    """Alembic's view of the scripts (checkout or installed wheel, any working directory)."""
    return ScriptDirectory.from_config(alembic_config())


@lru_cache(maxsize=1)
def load_chain() -> Chain:
    """Walk the scripts base → head once per process, reading each module's flags."""
    scripts = script_directory()
    revisions = [
        RevisionInfo(
            revision=script.revision,
            path=Path(script.path),
            additive=bool(getattr(script.module, "additive", False)),
            downgrade_loses_data=bool(getattr(script.module, "downgrade_loses_data", True)),
        )
        for script in reversed(list(scripts.walk_revisions()))
    ]
    return Chain(revisions=tuple(revisions), heads=tuple(scripts.get_heads()))


def row_for(app_version: str) -> MatrixRow:
    """The matrix row of an app version (``LookupError`` if the matrix does not know it)."""
    for row in COMPATIBILITY_MATRIX:
        if row.app_version == app_version:
            return row
    raise LookupError(f"app version {app_version} is not in the compatibility matrix")


def current_row() -> MatrixRow:
    """The row of the running code's version."""
    return row_for(statewave_server.__version__)


def release_introducing(revision: str, chain: Chain) -> str | None:
    """The oldest app version whose expected head includes ``revision`` (None if unknown)."""
    position = chain.index(revision)
    for row in reversed(COMPATIBILITY_MATRIX):
        if chain.index(chain.resolve(row.expected_head)) >= position:
            return row.app_version
    return None


def render_markdown_table() -> str:
    """The matrix as the Markdown table the README carries (a test keeps them equal)."""
    lines = [
        "| " + " | ".join(_HEADER) + " |",
        "|" + "|".join("---" for _ in _HEADER) + "|",
    ]
    for row in COMPATIBILITY_MATRIX:
        lines.append(f"| {row.app_version} | {row.expected_head} | {row.min_compatible} |")
    return "\n".join(lines) + "\n"
