"""The per-process index cache over real PostgreSQL: reuse while every change is heard
(this process's commits at once, other processes' through LISTEN/NOTIFY), no reuse
while the listener is down."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database
from statewave_server.db.memory_change_listener import APPLICATION_NAME
from statewave_server.db.rows import NewMemoryRow
from statewave_server.db.subjects import delete_subject
from statewave_server.services.embeddings import HashEmbeddingProvider
from statewave_server.services.memory_index import MemoryIndexCache, SubjectIndex
from statewave_server.services.memory_index.cache import BUILD_IN_THREAD_ROWS
from tests.fixtures.factories import database_for
from tests.fixtures.factories import memory_row as memory

MODEL = HashEmbeddingProvider(384)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(head_db_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(head_db_url)
    yield database_for(engine)
    await engine.dispose()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.fixture
async def cache(db: Database) -> AsyncIterator[MemoryIndexCache]:
    index_cache = MemoryIndexCache(max_bytes=64 * 1024 * 1024, ttl_seconds=600)
    async with index_cache.following(db.engine.url.render_as_string(hide_password=False)):
        await until(lambda: index_cache.live)
        yield index_cache


async def insert(db: Database, *rows: NewMemoryRow) -> None:
    async with db.primary.begin() as session:
        await memory_repo.insert_memories(session, list(rows))


async def current(cache: MemoryIndexCache, db: Database, subject: str = "alice") -> SubjectIndex:
    async with db.primary() as session:
        return await cache.get(session, tenant_id="", subject_id=subject, model=MODEL.model)


def ids_of(index: SubjectIndex) -> set[uuid.UUID]:
    return index.ids


async def test_reused_until_this_process_writes(cache: MemoryIndexCache, db: Database) -> None:
    tea, coffee = memory("Likes tea"), memory("Likes coffee")
    await insert(db, tea, memory("Lives in Paris", subject="bob"))
    first = await current(cache, db)
    assert ids_of(first) == {tea.id}
    assert await current(cache, db) is first  # nothing changed: the same index
    await insert(db, coffee)
    second = await current(cache, db)  # read-your-writes: no waiting for NOTIFY
    assert ids_of(second) == {tea.id, coffee.id}
    async with db.primary.begin() as session:
        await memory_repo.supersede(
            session,
            tenant_id="",
            subject_id="alice",
            superseded=[(tea.id, datetime.now(UTC), None)],
        )
    assert ids_of(await current(cache, db)) == {coffee.id}
    async with db.primary.begin() as session:
        await delete_subject(session, tenant_id="", subject_id="alice")
    assert len(await current(cache, db)) == 0


async def test_a_rolled_back_write_changes_nothing(cache: MemoryIndexCache, db: Database) -> None:
    await insert(db, memory("Likes tea"))
    first = await current(cache, db)
    async with db.primary() as session:
        await memory_repo.insert_memories(session, [memory("Likes coffee")])
        await session.rollback()
    assert await current(cache, db) is first


async def test_hears_a_write_committed_by_another_process(
    cache: MemoryIndexCache, db: Database, head_db_url: str
) -> None:
    await insert(db, memory("Likes tea"))
    first = await current(cache, db)
    assert len(first) == 1
    script = textwrap.dedent(
        f"""
        import asyncio
        from sqlalchemy.ext.asyncio import create_async_engine
        from statewave_server.db import memories
        from statewave_server.db.rows import NewMemoryRow
        from tests.fixtures.factories import database_for

        async def main():
            engine = create_async_engine({head_db_url!r})
            async with database_for(engine).primary.begin() as session:
                await memories.insert_memories(session, [NewMemoryRow(
                    tenant_id="", subject_id="alice", kind="profile_fact",
                    content="Likes coffee", source_episode_ids=[],
                )])
            await engine.dispose()

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # No waiting for the notification: the read itself makes sure it has been heard.
    assert len(await current(cache, db)) == 2


async def test_a_listener_that_stops_answering_is_not_trusted(
    cache: MemoryIndexCache, db: Database
) -> None:
    """A half-open listener connection (its backend frozen) fails the reader's round
    trip within its timeout: the reader builds afresh and the listener reconnects."""
    await insert(db, memory("Likes tea"))
    first = await current(cache, db)
    pid = await on_listener(db, "pid")
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        assert await asyncio.wait_for(current(cache, db), 30) is not first
        assert not cache.live
    finally:
        os.kill(pid, signal.SIGCONT)
    await until(lambda: cache.live, seconds=10)
    rebuilt = await current(cache, db)
    assert await current(cache, db) is rebuilt


async def on_listener(db: Database, expression: str) -> Any:
    """``expression`` over this database's listener backend(s) in pg_stat_activity."""
    async with db.primary.begin() as session:
        return await session.scalar(
            text(
                f"SELECT {expression} FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )


async def test_nothing_is_reused_while_the_listener_is_down(
    cache: MemoryIndexCache, db: Database
) -> None:
    await insert(db, memory("Likes tea"))
    first = await current(cache, db)
    assert await current(cache, db) is first
    assert await on_listener(db, "count(pg_terminate_backend(pid))") == 1
    await until(lambda: not cache.live, seconds=5)
    # Down: changes could be missed, so every reader builds afresh.
    assert await current(cache, db) is not first
    await until(lambda: cache.live, seconds=10)  # reconnects on its own
    rebuilt = await current(cache, db)
    assert await current(cache, db) is rebuilt


async def test_entries_beyond_the_size_cap_are_evicted(db: Database) -> None:
    small = MemoryIndexCache(max_bytes=1, ttl_seconds=600)
    async with small.following(db.engine.url.render_as_string(hide_password=False)):
        await until(lambda: small.live)
        await insert(db, memory("Likes tea"))
        first = await current(small, db)
        assert await current(small, db) is not first
        assert small.nbytes == 0


async def test_a_large_subject_is_built_off_the_event_loop(
    cache: MemoryIndexCache, db: Database
) -> None:
    rows = [
        memory(f"Ticket {n} about invoice number {n}") for n in range(BUILD_IN_THREAD_ROWS + 50)
    ]
    await insert(db, *rows)
    index = await current(cache, db)
    assert len(index) == len(rows)
    hits = index.lexical(["1042"], limit=5)
    assert [h.id for h in hits] == [rows[1042].id]
    assert await current(cache, db) is index
