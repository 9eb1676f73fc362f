"""The queries behind retrieval (index rows, hit rows, neighbouring turns) over real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from statewave_server.db import episode_views
from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database
from statewave_server.db.index_rows import index_rows, query_lexemes
from statewave_server.db.rows import NewEpisodeRow, NewMemoryRow
from statewave_server.services.embeddings import HashEmbeddingProvider
from tests.fixtures.factories import database_for, memory_row

MODEL = HashEmbeddingProvider(384)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
async def db(head_db_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(head_db_url)
    yield database_for(engine)
    await engine.dispose()


def _memory(subject: str, content: str) -> NewMemoryRow:
    return memory_row(content, subject=subject, kind="episode_summary", model=MODEL)


def _episode(subject: str, source: str, payload: dict[str, Any], at: datetime) -> NewEpisodeRow:
    return NewEpisodeRow(
        tenant_id="",
        subject_id=subject,
        source=source,
        type="message",
        payload=payload,
        occurred_at=at,
    )


async def test_index_rows_hold_active_memories_with_lexemes_and_own_model_vectors(
    db: Database,
) -> None:
    rows = [
        _memory("alice", "Alice painted a sunrise last year"),
        replace(_memory("alice", "Painting is relaxing"), status="superseded"),
        replace(_memory("alice", "tea"), embedding=[1.0] * 8, embedding_model="other"),
        _memory("bob", "Bob painted his fence"),
    ]
    async with db.primary.begin() as session:
        await memory_repo.insert_memories(session, rows)
    async with db.primary() as session:
        found = {
            r.id: r
            for r in await index_rows(session, tenant_id="", subject_id="alice", model=MODEL.model)
        }
        some = await index_rows(
            session, tenant_id="", subject_id="alice", model=None, ids=[rows[0].id, rows[1].id]
        )
        terms = await query_lexemes(session, "Who paints the sunrises?")
        none = await query_lexemes(session, "the of and")
    assert set(found) == {rows[0].id, rows[2].id}  # active, alice's
    painted = found[rows[0].id]
    assert "'paint':2" in painted.lexemes and painted.kind == "episode_summary"
    assert painted.vector is not None and len(painted.vector) == 4 + 4 * 384
    assert found[rows[2].id].vector is None  # another model's vector is never compared
    assert [(r.id, r.vector) for r in some] == [(rows[0].id, None)]
    assert terms == ("paint", "sunris") and none == ()


async def test_active_by_ids_loads_active_rows_only(db: Database) -> None:
    rows = [_memory("alice", "tea"), replace(_memory("alice", "coffee"), status="superseded")]
    async with db.primary.begin() as session:
        await memory_repo.insert_memories(session, rows)
    async with db.primary() as session:
        loaded = await memory_repo.active_by_ids(
            session, tenant_id="", subject_id="alice", ids=[r.id for r in rows]
        )
    assert [m.content for m in loaded] == ["tea"]


async def test_neighbour_ids_by_event_time(db: Database) -> None:
    rows = [  # inserted out of order: event time decides
        _episode("alice", "chat", {"text": f"turn {i}"}, T0 + timedelta(minutes=i))
        for i in (2, 0, 1, 3)
    ]
    async with db.primary.begin() as session:
        inserted = await episode_repo.insert_episodes(session, rows)
    by_text = {e.payload["text"]: e.id for e in inserted.episodes}
    async with db.primary() as session:
        around = await episode_repo.neighbour_ids(
            session, tenant_id="", subject_id="alice", ids=[by_text["turn 1"], by_text["turn 3"]]
        )
        empty = await episode_repo.neighbour_ids(session, tenant_id="", subject_id="alice", ids=[])
    assert set(around[by_text["turn 1"]]) == {by_text["turn 0"], by_text["turn 2"]}
    assert around[by_text["turn 3"]] == [by_text["turn 2"]]
    assert empty == {}


async def test_a_batch_with_one_event_time_keeps_its_order(db: Database) -> None:
    """Ids of a batch increase in input order, so equal ``occurred_at`` ties break by it."""
    rows = [_episode("bob", "chat", {"text": f"turn {i}"}, T0) for i in range(40)]
    async with db.primary.begin() as session:
        first = await episode_repo.insert_episodes(session, rows[:20])
    async with db.primary.begin() as session:
        second = await episode_repo.insert_episodes(session, rows[20:])
    ids = [e.id for e in [*first.episodes, *second.episodes]]
    assert ids == sorted(ids)
    assert all(i.version == 7 for i in ids)
    async with db.primary() as session:
        around = await episode_repo.neighbour_ids(
            session, tenant_id="", subject_id="bob", ids=[ids[5], ids[20]]
        )
    assert set(around[ids[5]]) == {ids[4], ids[6]}
    assert set(around[ids[20]]) == {ids[19], ids[21]}


async def test_episode_views_bound_large_payloads(db: Database) -> None:
    """A large payload never leaves PostgreSQL whole: only its text, cut, comes back."""
    huge = "word " * 400_000  # 2 MB
    payloads = {
        "small": {"messages": [{"role": "user", "content": "hello there"}]},
        "messages": {"messages": [{"role": "user", "content": huge}, "tail " + huge]},
        "text": {"text": huge, "other": huge},
        "nothing": {"blob": huge},
    }
    rows = [
        _episode("carol", name, payload, T0 + timedelta(minutes=i))
        for i, (name, payload) in enumerate(payloads.items())
    ]
    async with db.primary.begin() as session:
        inserted = await episode_repo.insert_episodes(session, rows)
    async with db.primary() as session:
        newest = await episode_views.newest_views(
            session, tenant_id="", subject_id="carol", limit=10, text_chars=50
        )
        some = await episode_views.views_by_ids(
            session,
            tenant_id="",
            subject_id="carol",
            ids=[inserted.episodes[0].id, uuid.uuid4()],
            text_chars=50,
        )
    views = {v.source: v for v in newest}
    assert [v.source for v in newest] == ["nothing", "text", "messages", "small"]
    assert views["small"].payload == payloads["small"] and views["small"].cut_text is None
    assert views["messages"].payload is None
    assert views["messages"].cut_text == ("user: " + huge)[:50]
    assert views["text"].payload is None and views["text"].cut_text == huge[:50]
    assert views["nothing"].payload is None and views["nothing"].cut_text == ""
    assert [v.id for v in some] == [inserted.episodes[0].id]
