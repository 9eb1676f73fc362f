"""``/admin/webhooks`` over HTTP against a real database (and a real receiver for redrive)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from devtools.receiver import running_receiver
from statewave_server.app import create_app
from statewave_server.db import outbox
from statewave_server.db.engine import Database
from statewave_server.db.models import WebhookEvent
from statewave_server.settings import Settings
from statewave_server.worker.dispatcher import Dispatcher
from tests.fixtures.factories import wait_until


@pytest.fixture(scope="module")
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database.from_settings(Settings(_env_file=None, database_url=db_url))
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
async def client(db_url: str, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, database_url=db_url, run_worker_in_process=False)
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


@pytest.fixture(autouse=True)
async def empty_outbox(database: Database) -> None:
    async with database.primary() as session, session.begin():
        await session.execute(delete(WebhookEvent))


async def _add(database: Database, tenant: str, event: str, **state: Any) -> str:
    """One committed outbox row, then forced into ``state``; its id."""
    async with database.primary() as session, session.begin():
        await outbox.record_event(session, tenant, event, {"subject_id": "s-1"})
        row_id = await session.scalar(
            select(WebhookEvent.id).order_by(WebhookEvent.created_at.desc()).limit(1)
        )
        assert row_id is not None
        if state:
            await session.execute(
                update(WebhookEvent).where(WebhookEvent.id == row_id).values(**state)
            )
    return str(row_id)


def _assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    return error


async def test_list_filters_pages_and_stats(client: httpx.AsyncClient, database: Database) -> None:
    dead = await _add(database, "acme", "episode.created", status="dead_letter", attempts=5)
    await _add(database, "acme", "memories.compiled")
    await _add(database, "globex", "episode.created", status="delivered")

    everything = (await client.get("/admin/webhooks")).json()
    assert (everything["total"], everything["limit"], everything["offset"]) == (3, 50, 0)
    assert {e["tenant_id"] for e in everything["events"]} == {"acme", "globex"}
    assert set(everything["events"][0]) >= {"id", "event", "status", "attempts", "last_error"}

    only_dead = (await client.get("/admin/webhooks", params={"status": "dead_letter"})).json()
    assert [e["id"] for e in only_dead["events"]] == [dead] and only_dead["total"] == 1
    acme_created = await client.get(
        "/admin/webhooks", params={"tenant_id": "acme", "event_type": "episode.created"}
    )
    assert [e["id"] for e in acme_created.json()["events"]] == [dead]
    page = (await client.get("/admin/webhooks", params={"limit": 2, "offset": 2})).json()
    assert len(page["events"]) == 1 and page["total"] == 3

    stats = (await client.get("/admin/webhooks/stats")).json()
    assert stats == {"pending": 1, "delivering": 0, "delivered": 1, "dead_letter": 1, "total": 3}

    detail = (await client.get(f"/admin/webhooks/{dead}")).json()
    assert detail["payload"]["tenant_id"] == "acme" and detail["payload"]["data"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "bogus"}],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    _assert_envelope(await client.get("/admin/webhooks", params=params), 422, "validation_error")


async def test_detail_unknown_is_404_and_bad_id_is_422(client: httpx.AsyncClient) -> None:
    error = _assert_envelope(await client.get(f"/admin/webhooks/{uuid.uuid4()}"), 404, "not_found")
    assert error["message"] == "Webhook event not found"
    _assert_envelope(await client.get("/admin/webhooks/not-a-uuid"), 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all_dead": False},
        {"event_ids": []},
        {"event_ids": ["not-a-uuid"]},
        {"event_ids": [str(uuid.uuid4())], "all_dead": True},
        {"all_dead": True, "surprise": 1},
    ],
)
async def test_bad_redrive_bodies_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/admin/webhooks/redrive", json=body)
    _assert_envelope(response, 422, "validation_error")


async def test_redrive_by_id_only_touches_dead_letters(
    client: httpx.AsyncClient, database: Database
) -> None:
    dead = await _add(database, "", "episode.created", status="dead_letter", attempts=5)
    other_dead = await _add(database, "", "episode.created", status="dead_letter", attempts=5)
    delivered = await _add(database, "", "episode.created", status="delivered", attempts=1)
    response = await client.post(
        "/admin/webhooks/redrive", json={"event_ids": [dead, delivered, str(uuid.uuid4())]}
    )
    assert response.status_code == 200 and response.json() == {"redriven": 1, "event_ids": [dead]}
    by_prefix = (await client.get("/admin/webhooks", params={"id_prefix": dead[:8]})).json()
    assert [e["id"] for e in by_prefix["events"]] == [dead]
    assert (await client.get("/admin/webhooks", params={"id_prefix": "%"})).status_code == 422
    statuses = {e["id"]: e for e in (await client.get("/admin/webhooks")).json()["events"]}
    assert (statuses[dead]["status"], statuses[dead]["attempts"]) == ("pending", 0)
    assert statuses[other_dead]["status"] == "dead_letter"
    assert statuses[delivered]["status"] == "delivered"


async def test_dead_letter_then_admin_redrive_delivers(
    client: httpx.AsyncClient, database: Database
) -> None:
    with running_receiver() as receiver:
        receiver.always(500)
        settings = Settings(
            _env_file=None,
            webhook_url=receiver.url,
            webhook_poll_interval_seconds=0.05,
            webhook_backoff_base_seconds=0.02,
            webhook_backoff_max_seconds=0.05,
            webhook_timeout_seconds=2.0,
        )
        async with database.primary() as session, session.begin():
            await outbox.record_event(
                session, "acme", "subject.deleted", {"subject_id": "x"}, max_attempts=2
            )

        async def stats_show(**expected: int) -> bool:
            stats = (await client.get("/admin/webhooks/stats")).json()
            return all(stats[k] == v for k, v in expected.items())

        stop = asyncio.Event()
        task = asyncio.create_task(Dispatcher(database, settings).run(stop))
        try:
            await wait_until(lambda: stats_show(dead_letter=1), within=20)
            [row] = (await client.get("/admin/webhooks")).json()["events"]
            assert row["attempts"] == 2 and row["http_status"] == 500
            assert row["last_error"].startswith("HTTP 500")
            receiver.always(200)
            redriven = await client.post("/admin/webhooks/redrive", json={"all_dead": True})
            assert redriven.json()["redriven"] == 1
            await wait_until(lambda: stats_show(delivered=1, dead_letter=0), within=20)
        finally:
            stop.set()
            await task
        assert [r.status for r in receiver.requests] == [500, 500, 200]
        assert len({r.event_id for r in receiver.requests}) == 1
