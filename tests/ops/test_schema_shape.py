"""Schema-family detection: by tables and columns, never by the revision id."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import PgServer
from statewave_server.db.models import Base
from statewave_server.ops.schema_shape import (
    ORIGINAL_COLUMNS,
    SchemaFamily,
    classify,
    detect_schema_family,
)
from tests.fixtures.original_db import ORIGINAL_REVISIONS, build_original

OURS = {name: frozenset(t.columns.keys()) for name, t in Base.metadata.tables.items()}


def test_classify_ours_original_empty_unknown() -> None:
    assert classify(OURS) is SchemaFamily.OURS
    assert classify(dict(ORIGINAL_COLUMNS)) is SchemaFamily.ORIGINAL_0_6_1
    assert classify({}) is SchemaFamily.EMPTY
    assert classify({"someone_elses_table": frozenset({"a"})}) is SchemaFamily.EMPTY
    # Neither: the original's tables with a column neither ever had, or a mix of both.
    odd = {**ORIGINAL_COLUMNS, "episodes": ORIGINAL_COLUMNS["episodes"] | {"colour"}}
    assert classify(odd) is SchemaFamily.UNKNOWN
    assert classify({**ORIGINAL_COLUMNS, "compilation_jobs": frozenset({"id"})}) is (
        SchemaFamily.UNKNOWN
    )
    assert classify({**OURS, "compile_jobs": frozenset({"id"})}) is SchemaFamily.UNKNOWN
    assert classify({"memories": ORIGINAL_COLUMNS["memories"]}) is SchemaFamily.UNKNOWN


async def _family(url: str) -> SchemaFamily:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await detect_schema_family(conn)
    finally:
        await engine.dispose()


async def test_detects_every_original_revision(pg: PgServer) -> None:
    for revision in ORIGINAL_REVISIONS:
        url = pg.create_database("shape")
        build_original(pg, url, revision)
        assert await _family(url) is SchemaFamily.ORIGINAL_0_6_1, revision


async def test_detects_ours_and_empty(db_url: str, empty_db_url: str) -> None:
    assert await _family(db_url) is SchemaFamily.OURS
    assert await _family(empty_db_url) is SchemaFamily.EMPTY


@pytest.mark.parametrize("revision", ["0012_add_health_cache"])
async def test_original_head_id_equal_to_ours_is_still_original(
    pg: PgServer, revision: str
) -> None:
    url = pg.create_database("shape")
    build_original(pg, url, revision)
    assert pg.psql_in(pg.database_name(url), "SELECT version_num FROM alembic_version") == revision
    assert await _family(url) is SchemaFamily.ORIGINAL_0_6_1
