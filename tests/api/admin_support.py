"""Helpers for the admin API tests: an app with the admin router, and seeded subjects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.fixtures.conversation import message_batch

CONVERSATION = [
    ("s-1", "user", "Hi, my name is Dana Whitfield and I work at Northwind Traders."),
    ("s-1", "assistant", "Thanks Dana! How can I help you today?"),
    ("s-2", "user", "We're on the Enterprise plan and our CSV export keeps failing."),
    ("s-2", "assistant", "Sorry about that. Let me check the export logs for your account."),
]


@asynccontextmanager
async def admin_client(
    settings: Settings, runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client over the real app (admin routers included)."""
    database = Database.from_settings(settings)
    app = create_app(settings, database, runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client
    finally:
        await database.dispose()


async def seed_subject(
    api: httpx.AsyncClient, subject: str, tenant: str = "", *, compile_: bool = True
) -> list[str]:
    """Four messages in two sessions, compiled, with one resolved session; episode ids."""
    headers = {"X-Tenant-ID": tenant} if tenant else {}
    batch = message_batch(subject, CONVERSATION)
    response = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
    assert response.status_code == 201, response.text
    if compile_:
        compiled = await api.post(
            "/v1/memories/compile", json={"subject_id": subject}, headers=headers
        )
        assert compiled.status_code == 200, compiled.text
    resolved = await api.post(
        "/v1/resolutions",
        json={"subject_id": subject, "session_id": "s-1", "status": "resolved"},
        headers=headers,
    )
    assert resolved.status_code == 200, resolved.text
    return [e["id"] for e in response.json()["episodes"]]


async def ingest_and_compile(
    api: httpx.AsyncClient, subject: str, lines: list[tuple[str, str, str]]
) -> None:
    """One batch of messages (keys unique per first session id), then a sync compile."""
    batch = message_batch(subject, lines)
    for episode in batch:
        episode["idempotency_key"] += lines[0][0]
    done = await api.post("/v1/episodes/batch", json={"episodes": batch})
    assert done.status_code == 201, done.text
    compiled = await api.post("/v1/memories/compile", json={"subject_id": subject})
    assert compiled.status_code == 200, compiled.text
