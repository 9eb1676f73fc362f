"""Ops endpoints over HTTP: /healthz, /readyz and /ops/migrations against real databases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devtools.postgres import PgServer
from tests.fixtures.runbook import HEAD, MIGRATIONS_EXAMPLE, RESET_STUCK_JOBS_SQL
from tests.ops import app_client, database_at, no_server_url


@pytest.fixture
def down_url(tmp_path: Path) -> str:
    return no_server_url(tmp_path)


async def test_liveness_needs_no_database(down_url: str) -> None:
    async with app_client(down_url) as http:
        for path in ("/healthz", "/health"):
            response = await http.get(path)
            assert (response.status_code, response.json()) == (200, {"status": "ok"})
        schema_paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/healthz" in schema_paths and "/health" not in schema_paths
    assert "/readyz" in schema_paths and "/ready" not in schema_paths


async def test_migrations_at_head_is_the_runbook_example(head_db_url: str) -> None:
    async with app_client(head_db_url) as http:
        response = await http.get("/ops/migrations")
    assert response.status_code == 200
    assert response.json() == MIGRATIONS_EXAMPLE


async def test_migrations_verbose_adds_details(head_db_url: str) -> None:
    async with app_client(head_db_url) as http:
        body = (await http.get("/ops/migrations", params={"verbose": "true"})).json()
    extra = set(body) - set(MIGRATIONS_EXAMPLE)
    assert extra == {"history", "matrix", "lock_holder", "checksum_drift"}
    assert body["matrix"]["expected_head"] == HEAD and body["checksum_drift"] == []


async def test_migrations_behind(pg: PgServer) -> None:
    async with app_client(database_at(pg, "0010_add_session_id")) as http:
        body = (await http.get("/ops/migrations")).json()
    assert body["current_revision"] == "0010_add_session_id"
    assert body["is_compatible"] is False and body["error"] is None
    assert body["pending_count"] == 2
    assert body["pending_revisions"] == ["0011_add_resolutions_table", HEAD]
    assert body["summary"] == f"2 pending migration(s): 0010_add_session_id → {HEAD}"


async def test_migrations_when_database_is_down_is_200_with_error(down_url: str) -> None:
    started = time.monotonic()
    async with app_client(down_url) as http:
        response = await http.get("/ops/migrations")
    assert time.monotonic() - started < 5
    body = response.json()
    assert response.status_code == 200
    assert list(body) == list(MIGRATIONS_EXAMPLE)
    assert body["error"].startswith("Database unreachable")
    assert body["summary"] == f"ERROR: {body['error']}" and body["is_compatible"] is False


async def test_readyz_ready_at_head(head_db_url: str) -> None:
    async with app_client(head_db_url) as http:
        for path in ("/readyz", "/ready"):
            response = await http.get(path)
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "ready"
            assert [c["name"] for c in body["checks"]] == ["database", "queue", "schema"]
            assert all(c["status"] == "ok" for c in body["checks"])


async def test_readyz_degraded_by_orphaned_job_until_runbook_reset(
    pg: PgServer, head_db_url: str
) -> None:
    database = pg.database_name(head_db_url)
    pg.psql_in(
        database,
        "INSERT INTO compilation_jobs (id, subject_id, status, claimed_at, heartbeat_at) "
        "VALUES ('stuck-1', 'user-1', 'running', now() - interval '31 minutes', NULL), "
        "('fresh-1', 'user-2', 'running', now() - interval '5 minutes', NULL)",
    )
    async with app_client(head_db_url) as http:
        degraded = await http.get("/readyz")
        assert degraded.status_code == 200
        body = degraded.json()
        assert body["status"] == "degraded"
        queue = next(c for c in body["checks"] if c["name"] == "queue")
        assert queue["status"] == "degraded"
        assert queue["detail"].startswith("1 orphaned job(s)")
        pg.psql_in(database, RESET_STUCK_JOBS_SQL)
        assert pg.psql_in(database, "SELECT status FROM compilation_jobs WHERE id = 'stuck-1'") == (
            "pending"
        )
        ready = await http.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


async def test_readyz_schema_below_the_minimum_is_not_ready_strict_or_not(pg: PgServer) -> None:
    """Below the minimum the data routes answer 503, so no load balancer may send traffic."""
    behind = database_at(pg, "0010_add_session_id")
    for strict in (False, True):
        async with app_client(behind, strict_schema=strict) as http:
            ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["status"]) == (503, "not_ready")
        schema = next(c for c in ready.json()["checks"] if c["name"] == "schema")
        assert schema["status"] == "fail" and "2 pending migration(s)" in schema["detail"]


async def test_readyz_503_when_database_cannot_be_connected(down_url: str) -> None:
    started = time.monotonic()
    async with app_client(down_url) as http:
        response = await http.get("/readyz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"][0]["name"] == "database" and body["checks"][0]["status"] == "fail"
    assert body["checks"][0]["detail"].startswith("Database unreachable")
    assert "latency_ms" not in body["checks"][0]
