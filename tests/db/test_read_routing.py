"""``Database.reads`` without a usable replica: unset means the primary's own sessions; a
read URL that is not a standby, or reaches nothing, sends reads to the primary (never
an error) and ``/readyz`` says the replica is unavailable.

Reads on a real streaming replica: ``tests/reliability/test_read_replica.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.postgres import PgServer
from devtools.server import free_port
from statewave_server.db import primary_wal
from statewave_server.db.engine import Database
from statewave_server.db.primary_wal import WalFlush
from statewave_server.db.urls import to_async_url
from statewave_server.ops.readiness import check_readiness
from statewave_server.settings import Settings
from tests.fixtures.logs import logged


def _settings(db_url: str, **values: object) -> Settings:
    return Settings(_env_file=None, database_url=db_url, **values)  # type: ignore[call-arg]


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """A read URL that is the primary itself: reachable, but not replaying any WAL."""
    built = Database.from_settings(_settings(db_url, read_database_url=db_url))
    yield built
    await built.dispose()


def test_without_a_read_url_reads_use_the_primary_sessions(db_url: str) -> None:
    database = Database.from_settings(_settings(db_url))
    assert database.replica is None
    assert database.reads is database.primary


async def test_a_read_url_that_is_not_a_standby_reads_from_the_primary(
    database: Database, db_url: str
) -> None:
    router = database.replica
    assert router is not None
    for _ in range(3):
        async with database.reads() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    assert router.replica_reads == 0
    assert router.primary_reads["unavailable"] == 3
    assert router.unavailable is not None and "not in recovery" in router.unavailable
    readiness = await check_readiness(database, _settings(db_url, read_database_url=db_url))
    check = next(c for c in readiness.checks if c.name == "read_replica")
    assert check.status == "degraded"
    assert readiness.status == "degraded"
    assert check.detail is not None and "3 unavailable" in check.detail


async def test_an_unreachable_replica_costs_no_read(db_url: str) -> None:
    nothing = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/statewave"
    database = Database.from_settings(_settings(db_url, read_database_url=nothing))
    try:
        async with database.reads() as session:
            assert await session.scalar(text("SELECT 1")) == 1
        assert database.replica is not None
        assert database.replica.primary_reads["unavailable"] == 1
        assert database.replica.unavailable is not None
    finally:
        await database.dispose()


async def test_a_wal_flush_commits_and_is_rate_limited(engine: AsyncEngine) -> None:
    """The flush is a committed logical message: the primary's flush position reaches
    where its WAL was inserted before; a second request within the interval runs none."""
    flush = WalFlush(engine)
    async with engine.connect() as connection:
        inserted = await connection.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    assert await flush.request() is True
    assert flush.count == 1
    async with engine.connect() as connection:
        flushed = await connection.scalar(
            text("SELECT pg_current_wal_flush_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn)"),
            {"lsn": inserted},
        )
    assert flushed is True
    assert await flush.request() is False  # within FLUSH_INTERVAL_SECONDS
    assert flush.count == 1


async def test_a_role_that_may_not_flush_is_told_once_and_reads_go_on(pg: PgServer) -> None:
    """Where ``pg_logical_emit_message`` is revoked, the flush is given up (a warning),
    never retried, and never an error for the read that asked."""
    url = pg.create_database("noflush")
    name = pg.database_name(url)
    role = f"reader_{name}"
    pg.psql(f'CREATE ROLE "{role}" LOGIN')
    pg.psql_in(
        name,
        "REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text, boolean) "
        "FROM PUBLIC",
    )
    engine = create_async_engine(make_url(to_async_url(url)).set(username=role))
    try:
        flush = WalFlush(engine)
        with logged(primary_wal) as logs:
            assert await flush.request() is False
        assert flush.refused is not None and "permission denied" in flush.refused
        assert [entry["event"] for entry in logs] == ["read_replica_flush_refused"]
        assert await flush.request() is False  # not tried again
    finally:
        await engine.dispose()
