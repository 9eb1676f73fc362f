"""``/admin/subjects/{id}/memories/{id}/related``: lineage read from what the compiler
recorded, and the old inference only for memories superseded before it was recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from statewave_server.db.engine import Database
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client, ingest_and_compile

SUBJECT = "lineage-1"
EARLIER = [("s-1", "user", "We're on the Enterprise plan and our CSV export keeps failing.")]
LATER = [("s-2", "user", "We're on the Team plan and our CSV export keeps failing.")]


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(api_settings, local_runtime) as client:
        await ingest_and_compile(client, SUBJECT, EARLIER)
        await ingest_and_compile(client, SUBJECT, LATER)
        yield client


async def _related(client: httpx.AsyncClient, memory_id: str) -> dict[str, Any]:
    found = await client.get(f"/admin/subjects/{SUBJECT}/memories/{memory_id}/related")
    assert found.status_code == 200, found.text
    return dict(found.json())


async def _superseded(client: httpx.AsyncClient) -> dict[str, Any]:
    page = await client.get(
        f"/admin/subjects/{SUBJECT}/memories", params={"status": "superseded", "limit": 200}
    )
    rows = [m for m in page.json()["memories"] if "Enterprise" in m["content"]]
    assert rows, page.text
    return dict(rows[0])


async def test_related_reads_the_recorded_successor_both_ways(admin: httpx.AsyncClient) -> None:
    old = await _superseded(admin)
    found = await _related(admin, old["id"])
    successor = found["superseding_memory"]
    assert found["lineage_recorded"] is True
    assert successor["id"] == old["metadata"]["superseded_by"]
    assert "Team plan" in successor["content"]
    back = await _related(admin, successor["id"])
    assert old["id"] in {m["id"] for m in back["superseded_memories"]}
    assert back["lineage_recorded"] is True


async def test_unrecorded_rows_fall_back_to_the_inference_and_say_so(
    admin: httpx.AsyncClient, api_settings: Settings
) -> None:
    old = await _superseded(admin)
    database = Database.from_settings(api_settings)
    try:
        async with database.primary.begin() as session:
            # As a memory superseded before lineage was recorded looks.
            await session.execute(
                text("UPDATE memories SET metadata = metadata - 'superseded_by' WHERE id = :id"),
                {"id": old["id"]},
            )
    finally:
        await database.dispose()
    found = await _related(admin, old["id"])
    assert found["lineage_recorded"] is False
    assert found["superseding_memory"]["id"] == old["metadata"]["superseded_by"]
