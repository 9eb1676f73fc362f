"""Durability: every episode acknowledged with 201 is stored exactly once, even when the
API process — or the PostgreSQL postmaster under it — is SIGKILLed and restarted mid-ingest
and clients retry with ``Idempotency-Key``.

The long versions are ``bench/reliability.py durability`` and ``postmaster-kill``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from devtools.harness import (
    ApiProcess,
    durability_settings,
    postmaster_crash,
    run_durability,
    subprocess_env,
)
from devtools.postgres import PgServer, alembic
from statewave_server.db.engine import Database
from tests.reliability.support import in_process_api

TENANT = "idem-tenant"


def _batch(n: int, subject: str = "idem-subject", tag: str = "a") -> list[dict[str, object]]:
    return [
        {"subject_id": subject, "source": "t", "type": "m", "payload": {"i": i, "tag": tag}}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
async def api(db_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with in_process_api(db_url, headers={"X-Tenant-ID": TENANT}) as pair:
        yield pair


async def _count(app: FastAPI, subject: str) -> int:
    database: Database = app.state.database
    async with database.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM episodes WHERE tenant_id = :t AND subject_id = :s"),
            {"t": TENANT, "s": subject},
        )
    return int(count or 0)


async def test_a_retried_batch_with_the_header_is_stored_once(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = api
    headers = {"Idempotency-Key": "batch-0001"}
    first = await client.post("/v1/episodes/batch", json={"episodes": _batch(5)}, headers=headers)
    again = await client.post("/v1/episodes/batch", json={"episodes": _batch(5)}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert [e["id"] for e in first.json()["episodes"]] == [
        e["id"] for e in again.json()["episodes"]
    ]
    assert await _count(app, "idem-subject") == 5
    other = await client.post(
        "/v1/episodes/batch", json={"episodes": _batch(5)}, headers={"Idempotency-Key": "b-2"}
    )
    assert other.status_code == 201
    assert await _count(app, "idem-subject") == 10


async def test_a_body_key_wins_over_the_header_and_single_posts_are_keyed(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = api
    episode = {**_batch(1, "single")[0]}
    for _ in range(3):
        r = await client.post("/v1/episodes", json=episode, headers={"Idempotency-Key": "one"})
        assert r.status_code == 201
    assert await _count(app, "single") == 1
    own = {**episode, "idempotency_key": "own-key"}
    r1 = await client.post("/v1/episodes", json=own, headers={"Idempotency-Key": "h1"})
    r2 = await client.post("/v1/episodes", json=own, headers={"Idempotency-Key": "h2"})
    assert r1.json()["id"] == r2.json()["id"]
    assert await _count(app, "single") == 2


async def test_without_the_header_nothing_changes(api: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = api
    for _ in range(2):
        r = await client.post("/v1/episodes/batch", json={"episodes": _batch(2, "nokey")})
        assert r.status_code == 201
    assert await _count(app, "nokey") == 4


@pytest.mark.parametrize("value", ["", "x" * 201, "tab\there", "bell\x07"])
async def test_an_invalid_header_is_400(api: tuple[FastAPI, httpx.AsyncClient], value: str) -> None:
    _, client = api
    for path, body in (
        ("/v1/episodes", _batch(1, "bad")[0]),
        ("/v1/episodes/batch", {"episodes": _batch(1, "bad")}),
    ):
        response = await client.post(path, json=body, headers={"Idempotency-Key": value})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await _count(api[0], "bad") == 0


async def test_the_longest_header_is_accepted(api: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = api
    body = {"episodes": _batch(100, "long")}
    response = await client.post(
        "/v1/episodes/batch", json=body, headers={"Idempotency-Key": "k" * 200}
    )
    assert response.status_code == 201


@pytest.mark.slow
def test_sigkilled_api_loses_and_duplicates_nothing(head_db_url: str, tmp_path: Path) -> None:
    api = ApiProcess(subprocess_env(head_db_url), tmp_path / "api.log")
    api.restart()
    try:
        result = run_durability(
            api, head_db_url, total=3_000, batch_size=50, clients=2, kills=3, timeout=150
        )
    finally:
        api.stop()
    assert result.kills == 3
    assert result.transport_errors > 0  # the kills really cut requests in flight
    assert result.exact_once, result


@pytest.mark.slow
def test_sigkilled_postmaster_loses_and_duplicates_nothing(
    own_pg: PgServer, tmp_path: Path
) -> None:
    """Acknowledged means committed durably: after crash recovery of the database every
    acknowledged episode is there exactly once."""
    url = own_pg.create_database("pgkill")
    alembic("upgrade", "head", database_url=url)
    assert asyncio.run(durability_settings(url))["synchronous_commit"] == "on"
    api = ApiProcess(subprocess_env(url), tmp_path / "api.log")
    api.restart()
    crash = postmaster_crash(own_pg.server, own_pg.pgdata, api)
    try:
        result = run_durability(
            api, url, total=2_000, batch_size=50, clients=2, kills=2, timeout=240, crash=crash
        )
    finally:
        api.stop()
    assert result.kills == 2
    assert result.transport_errors + result.retry_statuses > 0  # the kills cut requests
    assert result.exact_once, result
