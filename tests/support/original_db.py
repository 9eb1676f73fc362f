"""Databases shaped as the original Statewave leaves them, at any of its revisions, with rows.

Each revision step is ``tests/fixtures/original_0_6_1/NNNN.sql`` (schema) plus, when the
original would have written data at that point, ``rows/NNNN.sql``: rows go in at the
revision they were written and later steps transform them, as in a real deployment.
"""

from __future__ import annotations

from pathlib import Path

from devtools.postgres import REPO_ROOT, PgServer
from statewave_server.ops.schema_shape import ORIGINAL_REVISIONS

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "original_0_6_1"
SHARED_COMPAT = REPO_ROOT.parent / "shared" / "compat" / "upstream-0.6.1"

__all__ = ["FIXTURES", "ORIGINAL_REVISIONS", "SHARED_COMPAT", "build_original"]


def _steps(revision: str) -> list[str]:
    if revision not in ORIGINAL_REVISIONS:
        raise ValueError(f"not an original revision: {revision}")
    return list(ORIGINAL_REVISIONS[: ORIGINAL_REVISIONS.index(revision) + 1])


def build_original(pg: PgServer, url: str, revision: str, *, rows: bool = True) -> None:
    """Create the original's schema at ``revision`` in the (empty) database at ``url``."""
    database = pg.database_name(url)
    for step in _steps(revision):
        pg.psql_in(database, (FIXTURES / f"{step}.sql").read_text())
        data = FIXTURES / "rows" / f"{step}.sql"
        if rows and data.exists():
            pg.psql_in(database, data.read_text())
    pg.psql_in(database, f"INSERT INTO alembic_version VALUES ('{revision}')")


def shared_file(name: str) -> Path:
    """A file of the reference data in ``../shared`` (present in CI; optional elsewhere)."""
    return SHARED_COMPAT / name
