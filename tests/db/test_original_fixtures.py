"""The hand-written original-schema fixtures equal the original's own ``pg_dump`` per revision."""

from __future__ import annotations

import os

import pytest

from devtools.postgres import PgServer
from tests.db.support import schema_snapshot
from tests.fixtures.original_db import ORIGINAL_REVISIONS, build_original, shared_file


@pytest.mark.parametrize("revision", ORIGINAL_REVISIONS)
def test_fixture_matches_the_reference_dump(pg: PgServer, revision: str) -> None:
    dump = shared_file(f"schema-{revision}.sql")
    if not dump.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{dump} is missing (it is present in CI)")
        pytest.skip(f"{dump} is not present")
    reference = pg.create_database("ref")
    pg.psql_in(pg.database_name(reference), str(dump), is_file=True)
    fixture = pg.create_database("fix")
    build_original(pg, fixture, revision, rows=False)
    assert schema_snapshot(pg, fixture) == schema_snapshot(pg, reference)
