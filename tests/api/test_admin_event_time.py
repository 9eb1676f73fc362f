"""Event time, not ingest time: back-dated ``occurred_at`` drives SLA, activity and sorting.

History imported today happened days ago: its first response took minutes, not "0s",
the subject was first seen then, and a subject whose last message is older sorts after
one that spoke yesterday, whatever order they were written in.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database
from statewave_server.db.models import Memory
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=9)  # history-old's first message
RECENT = NOW - timedelta(days=1)  # history-new's only session


def _episode(subject: str, session: str, role: str, text: str, at: datetime) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "source": role,
        "type": "message",
        "payload": {"messages": [{"role": role, "content": text}]},
        "session_id": session,
        "occurred_at": at.isoformat(),
    }


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(api_settings, local_runtime) as client:
        # Written first, though it happened last.
        recent = [_episode("history-new", "n-1", "user", "Hello there", RECENT)]
        old = [
            _episode("history-old", "o-1", "user", "My invoice is wrong", OLD),
            _episode("history-old", "o-1", "assistant", "Checking", OLD + timedelta(minutes=3)),
            _episode("history-old", "o-2", "user", "Export fails", OLD + timedelta(days=1)),
            _episode("history-old", "o-2", "agent", "On it", OLD + timedelta(days=1, minutes=7)),
        ]
        for batch in (recent, old):
            done = await client.post("/v1/episodes/batch", json={"episodes": batch})
            assert done.status_code == 201, done.text
        compiled = await client.post("/v1/memories/compile", json={"subject_id": "history-old"})
        assert compiled.status_code == 200, compiled.text
        opened = await client.post(
            "/v1/resolutions",
            json={"subject_id": "history-old", "session_id": "o-2", "status": "open"},
        )
        assert opened.status_code == 200, opened.text
        yield client


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_sla_measures_event_time(admin: httpx.AsyncClient) -> None:
    sla = (await admin.get("/admin/subjects/history-old/sla")).json()
    by_session = {s["session_id"]: s for s in sla["sessions"]}
    assert by_session["o-1"]["first_response_seconds"] == 180
    assert by_session["o-2"]["first_response_seconds"] == 420
    assert _at(by_session["o-1"]["first_message_at"]) == OLD
    # Open since the customer wrote, eight days ago, not since the import a moment ago.
    assert by_session["o-2"]["open_duration_seconds"] > timedelta(days=7).total_seconds()


async def test_first_seen_and_last_activity_are_event_times(admin: httpx.AsyncClient) -> None:
    summary = (await admin.get("/admin/subjects/history-old")).json()["summary"]
    assert _at(summary["first_seen_at"]) == OLD
    assert _at(summary["last_activity_at"]) == OLD + timedelta(days=1, minutes=7)
    assert _at(summary["last_recorded_at"]) > NOW - timedelta(minutes=5)


async def test_subjects_sort_by_when_they_last_spoke(admin: httpx.AsyncClient) -> None:
    listed = (await admin.get("/admin/subjects", params={"search": "history-"})).json()
    assert [s["subject_id"] for s in listed["subjects"]] == ["history-new", "history-old"]
    assert _at(listed["subjects"][1]["last_episode_at"]) == OLD + timedelta(days=1, minutes=7)


async def test_health_idle_is_measured_from_the_last_message(admin: httpx.AsyncClient) -> None:
    health = (await admin.get("/v1/subjects/history-old/health")).json()
    idle = [f for f in health["factors"] if f["signal"] == "idle_open_issue"]
    assert idle and "idle for 7 days" in idle[0]["detail"]


async def test_embedding_backfill_is_not_activity(
    admin: httpx.AsyncClient, api_settings: Settings
) -> None:
    before = (await admin.get("/admin/subjects/history-old")).json()["summary"]
    database = Database.from_settings(api_settings)
    try:
        async with database.primary.begin() as session:
            memory = await session.scalar(
                select(Memory).where(Memory.tenant_id == "", Memory.subject_id == "history-old")
            )
            assert memory is not None
            edited_at = memory.updated_at
            await memory_repo.set_embeddings(
                session,
                tenant_id="",
                subject_id="history-old",
                vectors=[(memory.id, [0.1, 0.2, 0.3])],
                model=f"m-{uuid.uuid4()}",
            )
        async with database.primary() as session:
            reread = await session.get(Memory, ("", "history-old", memory.id))
            assert reread is not None and reread.updated_at == edited_at
    finally:
        await database.dispose()
    after = (await admin.get("/admin/subjects/history-old")).json()["summary"]
    assert after["last_activity_at"] == before["last_activity_at"]
