"""Queued compiles of several subjects run as one worker batch: one model call for all
their texts, each subject written in its own transaction, duplicates of a subject
coalesced into one compile — and the memories are exactly those of compiling the subjects
one by one."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from statewave_server.db.engine import Database
from statewave_server.db.models import Episode, Job, Memory
from statewave_server.services import compilation
from statewave_server.services.embeddings import EmbeddingProvider
from statewave_server.services.embeddings.cache import CachedEmbeddingProvider
from statewave_server.services.episodes import NewEpisode, record_batch
from statewave_server.services.runtime import MemoryRuntime, build_runtime
from statewave_server.settings import Settings
from statewave_server.worker.handlers import build_handlers
from statewave_server.worker.runner import Worker

SUBJECTS = ("ana", "bo", "cy")
FIRST = ("We're on the Enterprise plan and exports fail.", "My name is {s} and I live in Oslo.")
LATER = ("We're on the Team plan and exports fail.", "The export button shows error 500.")


class CountingEmbedder(CachedEmbeddingProvider):
    """The real embedder, counting how often the model is asked and for how many texts."""

    def __init__(self, inner: EmbeddingProvider) -> None:
        super().__init__(inner)
        self.calls: list[int] = []

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return await self.inner.embed_texts(texts)


def _runtime(provider: str) -> MemoryRuntime:
    runtime = build_runtime(Settings(_env_file=None, embedding_provider=provider))
    assert runtime.embedder is not None
    return dataclasses.replace(runtime, embedder=CountingEmbedder(runtime.embedder))


def _calls(runtime: MemoryRuntime) -> list[int]:
    assert isinstance(runtime.embedder, CountingEmbedder)
    return runtime.embedder.calls


async def _ingest(db: Database, runtime: MemoryRuntime, tenant: str, texts: Sequence[str]) -> None:
    episodes = [
        NewEpisode(
            subject,
            "user",
            "message",
            {"messages": [{"role": "user", "content": text.format(s=subject.title())}]},
            session_id="s-1",
        )
        for subject in SUBJECTS
        for text in texts
    ]
    await record_batch(db.primary, runtime.events, tenant, episodes)


async def _queue(db: Database, tenant: str, copies: int) -> None:
    for subject in SUBJECTS:
        for _ in range(copies):
            await compilation.submit_compile(
                db.primary, tenant_id=tenant, subject_id=subject, max_attempts=3
            )


async def _rows(db: Database, model: Any, tenant: str) -> list[Any]:
    async with db.primary() as session:
        return list((await session.scalars(select(model).where(model.tenant_id == tenant))).all())


async def test_queued_compiles_of_several_subjects_run_as_one_batch(db: Database) -> None:
    runtime = _runtime("hash")
    tenant = "batch"
    await _ingest(db, runtime, tenant, FIRST)
    await _queue(db, tenant, copies=2)  # each subject asked twice: one compile each
    worker = Worker(db, Settings(_env_file=None), build_handlers(runtime))

    assert await worker.run_once()
    assert not await worker.run_once()  # the one claim took every queued job

    assert len(_calls(runtime)) == 1  # one model call for all three subjects
    jobs: list[Job] = await _rows(db, Job, tenant)
    assert [j.status for j in jobs] == ["completed"] * 6
    assert {j.attempts for j in jobs} == {1}
    memories: list[Memory] = await _rows(db, Memory, tenant)
    for subject in SUBJECTS:
        pair = [j for j in jobs if j.subject_id == subject]
        first, duplicate = sorted(pair, key=lambda j: "coalesced_into" in j.result)
        assert duplicate.result["coalesced_into"] == first.id
        assert duplicate.result["memory_ids"] == first.result["memory_ids"]
        own = {str(m.id) for m in memories if m.subject_id == subject}
        assert set(first.result["memory_ids"]) == own and own
    episodes: list[Episode] = await _rows(db, Episode, tenant)
    assert all(e.last_compiled_at is not None for e in episodes)
    sources = Counter(
        i for m in memories if m.kind == "episode_summary" for i in m.source_episode_ids
    )
    assert set(sources) == {e.id for e in episodes}


async def test_a_prepared_compile_overtaken_by_another_compile_is_redone_under_the_lock(
    db: Database,
) -> None:
    """Between drafting and writing, a sync compile took the episodes and new ones came:
    the write compiles afresh instead of storing the stale drafts (no duplicates)."""
    runtime = _runtime("hash")
    tenant = "stale"
    await _ingest(db, runtime, tenant, FIRST)
    key = (tenant, SUBJECTS[0])
    prepared = await compilation.prepare_compiles(db.primary, runtime, [key], max_episodes=100)
    await compilation.compile_now(db.primary, runtime, tenant_id=key[0], subject_id=key[1])
    await _ingest(db, runtime, tenant, LATER)
    async with db.primary.begin() as session:
        written = await compilation.write_prepared(session, runtime, prepared[key])

    memories = [m for m in await _rows(db, Memory, tenant) if m.subject_id == key[1]]
    turns = Counter(m.content for m in memories if not m.metadata_.get("form"))
    assert set(turns.values()) == {1}, turns  # nothing stored twice
    episodes = [e for e in await _rows(db, Episode, tenant) if e.subject_id == key[1]]
    assert all(e.last_compiled_at is not None for e in episodes)
    later = {e.id for e in episodes} - set(prepared[key].episode_ids)
    assert len(later) == len(LATER)
    assert {i for m in written for i in m.source_episode_ids} == later  # the new ones only


def _view(memories: Sequence[Memory]) -> dict[tuple[str, str], list[Any]]:
    """Per subject the memories as comparable values (ids and times differ by design)."""
    content = {str(m.id): m.content for m in memories}
    view: dict[tuple[str, str], list[Any]] = {}
    for m in sorted(memories, key=lambda m: (m.subject_id, m.kind, m.content, m.summary)):
        successor = content.get(m.metadata_.get("superseded_by", ""))
        meta = {k: v for k, v in m.metadata_.items() if k != "superseded_by"}
        row = [m.kind, m.content, m.summary, m.confidence, m.status, successor, meta]
        view.setdefault((m.subject_id, m.kind), []).append((row, np.asarray(m.embedding)))
    return view


@pytest.mark.slow
async def test_compiling_subjects_together_equals_compiling_them_one_by_one(db: Database) -> None:
    """With the real model (batches shaped differently) and a second round that supersedes
    memories of the first: same kinds, texts, supersessions, and vectors within float
    tolerance."""
    runtime = _runtime("local")
    worker = Worker(db, Settings(_env_file=None), build_handlers(runtime))
    for texts in (FIRST, LATER):
        await _ingest(db, runtime, "together", texts)
        await _queue(db, "together", copies=1)
        calls = len(_calls(runtime))
        while await worker.run_once():
            pass
        assert len(_calls(runtime)) == calls + 1
        await _ingest(db, runtime, "alone", texts)
        for subject in SUBJECTS:
            await compilation.compile_now(
                db.primary, runtime, tenant_id="alone", subject_id=subject
            )

    together = _view(await _rows(db, Memory, "together"))
    alone = _view(await _rows(db, Memory, "alone"))
    assert together.keys() == alone.keys()
    assert any(m.status == "superseded" for m in await _rows(db, Memory, "together"))
    for key, rows in together.items():
        assert [row for row, _ in rows] == [row for row, _ in alone[key]], key
        for (_, vector), (_, other) in zip(rows, alone[key], strict=True):
            np.testing.assert_allclose(vector, other, atol=1e-5)


async def test_one_subject_at_a_time_when_the_batch_is_one(db: Database) -> None:
    """``STATEWAVE_WORKER_BATCH_SUBJECTS=1``: a claim takes one subject (its duplicates too)."""
    runtime = _runtime("hash")
    tenant = "single"
    await _ingest(db, runtime, tenant, FIRST)
    await _queue(db, tenant, copies=2)
    settings = Settings(_env_file=None, worker_batch_subjects=1)
    worker = Worker(db, settings, build_handlers(runtime))

    assert await worker.run_once()
    jobs: list[Job] = await _rows(db, Job, tenant)
    done = {j.subject_id for j in jobs if j.status == "completed"}
    assert len(done) == 1 and len([j for j in jobs if j.status == "completed"]) == 2
    assert len(_calls(runtime)) == 1
    runs = 1
    while await worker.run_once():
        runs += 1
    assert runs == len(SUBJECTS)
