"""A large backlog compiles in bounded chunks: one async request, one job per chunk, each
episode compiled once, and what a crash leaves behind is resumed without duplicates."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from statewave_server.db.engine import Database
from statewave_server.db.models import Episode, Job, Memory
from statewave_server.services import compilation
from statewave_server.services.compiler.drafts import DIGEST_FORM
from statewave_server.services.episodes import NewEpisode, record_batch
from statewave_server.services.runtime import MemoryRuntime, build_runtime
from statewave_server.settings import Settings
from statewave_server.worker.handlers import build_handlers
from statewave_server.worker.runner import Worker

SUBJECT = "backlog"
TENANT = "chunks"
CHUNK = 4
EPISODES = 10  # three chunks: 4 + 4 + 2


def is_digest_row(memory: Memory) -> bool:
    return memory.metadata_.get("form") == DIGEST_FORM


@pytest.fixture
def runtime() -> MemoryRuntime:
    return build_runtime(Settings(_env_file=None, embedding_provider="hash"))


async def _backlog(db: Database, runtime: MemoryRuntime) -> None:
    episodes = [
        NewEpisode(SUBJECT, "chat", "message", {"text": f"Ticket {i}: the export fails."})
        for i in range(EPISODES)
    ]
    await record_batch(db.primary, runtime.events, TENANT, episodes)


async def test_one_async_request_drains_the_backlog_chunk_by_chunk(
    db: Database, runtime: MemoryRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compilation, "MAX_EPISODES_PER_COMPILE", CHUNK)
    await _backlog(db, runtime)
    await compilation.submit_compile(
        db.primary, tenant_id=TENANT, subject_id=SUBJECT, max_attempts=3
    )
    settings = Settings(_env_file=None)
    worker = Worker(db, settings, build_handlers(runtime))

    runs = 0
    while await worker.run_once():
        runs += 1

    async with db.primary() as session:
        jobs = (await session.scalars(select(Job))).all()
        episodes = (await session.scalars(select(Episode))).all()
        sources = Counter(
            source
            for memory in (await session.scalars(select(Memory))).all()
            for source in memory.source_episode_ids
            if memory.kind == "episode_summary" and not is_digest_row(memory)
        )
    assert runs == len(jobs) == 3
    assert all(job.status == "completed" for job in jobs)
    assert [bool(job.result.get("continued_by")) for job in jobs].count(True) == 2
    assert all(e.last_compiled_at is not None for e in episodes)
    assert set(sources) == {e.id for e in episodes}
    assert set(sources.values()) == {1}


async def test_a_chunk_that_failed_is_redone_alone(
    db: Database, runtime: MemoryRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work committed by earlier chunks stays; the crashed chunk rolls back and runs again."""
    monkeypatch.setattr(compilation, "MAX_EPISODES_PER_COMPILE", CHUNK)
    await _backlog(db, runtime)
    async with db.primary.begin() as session:
        await compilation.compile_subject(session, runtime, tenant_id=TENANT, subject_id=SUBJECT)
    with pytest.raises(RuntimeError):
        async with db.primary.begin() as session:
            await compilation.compile_subject(
                session, runtime, tenant_id=TENANT, subject_id=SUBJECT
            )
            raise RuntimeError("worker died before commit")
    while True:
        async with db.primary.begin() as session:
            if not await compilation.compile_subject(
                session, runtime, tenant_id=TENANT, subject_id=SUBJECT
            ):
                break

    async with db.primary() as session:
        summaries = (
            await session.scalars(select(Memory).where(Memory.kind == "episode_summary"))
        ).all()
    turns = [m for m in summaries if not is_digest_row(m)]
    assert len(turns) == EPISODES
    assert len({m.source_episode_ids[0] for m in turns}) == EPISODES
