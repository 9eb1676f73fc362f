"""The app's plumbing: error envelope, request ids, database outages → 503."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.errors import Conflict
from statewave_server.settings import Settings


@pytest.fixture(scope="module")
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db_url, run_worker_in_process=False)
    database = Database.from_settings(settings)
    app = create_app(settings, database)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/test/conflict")
    async def conflict() -> None:
        raise Conflict("already there", details={"id": 7})

    @app.get("/test/nul")
    async def nul() -> None:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})

    @app.get("/test/db-down")
    async def db_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http
    await database.dispose()


async def test_unknown_route_is_a_404_envelope_with_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "http_error"
    assert error["message"] == "Not Found"
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert len(error["request_id"]) == 16


async def test_wrong_method_is_a_405_envelope(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "http_error"


async def test_incoming_request_id_is_echoed_and_unsafe_ones_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123.xyz"})
    assert kept.headers["X-Request-ID"] == "abc-123.xyz"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(replaced.headers["X-Request-ID"]) == 16


async def test_validation_failure_is_a_422_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/ops/migrations", params={"verbose": "maybe"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "Request validation failed"
    assert error["details"][0]["loc"] == ["query", "verbose"]


async def test_domain_error_maps_to_its_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/conflict")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "already there",
        "details": {"id": 7},
        "request_id": response.headers["X-Request-ID"],
    }


async def test_unexpected_error_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert "secret" not in response.text


async def test_database_outage_is_a_503_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/test/db-down")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


async def test_values_postgres_cannot_store_are_422_not_500(client: httpx.AsyncClient) -> None:
    """Whatever route lets a NUL character reach PostgreSQL, the client gets a 422."""
    response = await client.get(
        "/v1/timeline",
        params={"subject_id": "ok", "newest_first": "true"},
        headers={"X-Tenant-ID": "t"},
    )
    assert response.status_code == 200
    nul = await client.get("/test/nul")
    assert nul.status_code == 422
    assert nul.json()["error"]["code"] == "invalid_value"
