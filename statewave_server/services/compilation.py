"""Compiling a subject's new episodes into memories, inside the caller's transaction.

Concurrency-safe: compiles of one subject are serialised by a transaction-scoped advisory
lock, so each one supersedes against everything the previous one stored (two overlapping
compiles could otherwise each miss the other's memories and retire the newer fact);
uncompiled episodes are also locked with ``SKIP LOCKED``, so no episode is processed twice.
Idempotent: episodes are stamped ``last_compiled_at`` in the same transaction as the
memories they produced, so a crash rolls back both. Episodes of a failed LLM batch stay
uncompiled for the next run.

Trade-off, chosen on purpose: the synchronous compile (:func:`compile_subject`) runs the
model calls (the LLM compiler, the embedder) inside the transaction that holds the
episodes' row locks and a pooled connection. That is what makes a crash roll everything
back with no half-compiled state, but under the ``llm`` compiler one compile holds a
connection for up to the LLM timeout times its batches. The worker takes the alternative:
it compiles several subjects at once in two steps, :func:`prepare_compiles` drafts and
embeds them with no transaction held, :func:`write_prepared` stores each under its lock
once it has re-locked exactly the drafted episodes (else it compiles afresh), so the
result never differs from compiling the subjects one by one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import episodes as episode_repo
from statewave_server.db import jobs
from statewave_server.db import memories as memory_repo
from statewave_server.db import subjects as subject_repo
from statewave_server.db.models import Episode, Job, Memory
from statewave_server.db.rows import NewMemoryRow
from statewave_server.errors import CompileInProgress, NotFound
from statewave_server.services.compiler import (
    CompileResult,
    EpisodeInput,
    MemoryDraft,
    MemoryRecord,
    find_supersessions,
)
from statewave_server.services.draft_vectors import DraftVectors, embed_draft_groups, embed_drafts
from statewave_server.services.runtime import MemoryRuntime

log = structlog.get_logger("statewave.compile")

COMPILE_KIND = "compile"
MAX_EPISODES_PER_COMPILE = 500
# How many episodes one worker batch drafts and embeds ahead, over all its subjects.
MAX_EPISODES_PER_BATCH = 2000
# How many of the subject's newest active memories new ones are checked against.
CONFLICT_WINDOW = 2000
# How long a compile waits for the one already running on its subject (below the default
# 30 s statement timeout, so a sync compile answers instead of hanging).
COMPILE_LOCK_WAIT_SECONDS = 20.0


async def compile_subject(
    session: AsyncSession,
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
    lock_wait_seconds: float = COMPILE_LOCK_WAIT_SECONDS,
) -> list[Memory]:
    """Compile up to 500 uncompiled episodes; return the memories created.

    :class:`CompileInProgress` when another compile of the subject holds it longer than
    ``lock_wait_seconds``."""
    await _lock(
        session, tenant_id=tenant_id, subject_id=subject_id, lock_wait_seconds=lock_wait_seconds
    )
    return await _compile_locked(session, runtime, tenant_id=tenant_id, subject_id=subject_id)


@dataclass(frozen=True)
class PreparedCompile:
    """One subject's compile: its episodes, the compiler's drafts and their vectors."""

    tenant_id: str
    subject_id: str
    episode_ids: list[uuid.UUID]
    result: CompileResult
    vectors: DraftVectors | None


async def prepare_compiles(
    db: async_sessionmaker[AsyncSession],
    runtime: MemoryRuntime,
    subjects: Sequence[tuple[str, str]],
    *,
    max_episodes: int,
) -> dict[tuple[str, str], PreparedCompile]:
    """Draft several subjects' next compiles and embed all their texts in one model call,
    holding no lock and no transaction meanwhile (:func:`write_prepared` checks the
    episodes again under the subject's lock). Takes no further subject once
    ``max_episodes`` are drafted (bounded memory: at most one chunk of 500 beyond it); a
    subject left out, or whose compiler failed, is compiled (or fails) under its own job."""
    chosen: list[tuple[tuple[str, str], list[Episode]]] = []
    total = 0
    async with db() as session:
        for key in subjects:
            if total >= max_episodes:
                break
            episodes = await episode_repo.peek_uncompiled(
                session, tenant_id=key[0], subject_id=key[1], limit=MAX_EPISODES_PER_COMPILE
            )
            if episodes:
                chosen.append((key, episodes))
                total += len(episodes)
    outcomes = await asyncio.gather(
        *(runtime.compiler.compile([_as_input(e) for e in eps]) for _, eps in chosen),
        return_exceptions=True,
    )
    drafted = [
        (key, episodes, outcome)
        for (key, episodes), outcome in zip(chosen, outcomes, strict=True)
        if isinstance(outcome, CompileResult)
    ]
    vectors: list[DraftVectors | None] = [None] * len(drafted)
    if runtime.embedder is not None and drafted:
        groups = [outcome.drafts for _, _, outcome in drafted]
        vectors = list(await embed_draft_groups(runtime.embedder, groups, runtime.text_vectors))
    return {
        key: PreparedCompile(*key, [e.id for e in episodes], outcome, vector)
        for (key, episodes, outcome), vector in zip(drafted, vectors, strict=True)
    }


async def write_prepared(
    session: AsyncSession,
    runtime: MemoryRuntime,
    prepared: PreparedCompile,
    *,
    lock_wait_seconds: float = COMPILE_LOCK_WAIT_SECONDS,
) -> list[Memory]:
    """Store a prepared compile under the subject's lock, if its episodes are all still
    uncompiled; otherwise (another compile took some meanwhile) compile afresh. Either way
    the result is what :func:`compile_subject` would have stored."""
    tenant_id, subject_id = prepared.tenant_id, prepared.subject_id
    await _lock(
        session, tenant_id=tenant_id, subject_id=subject_id, lock_wait_seconds=lock_wait_seconds
    )
    if not await episode_repo.claim_exactly(
        session, tenant_id=tenant_id, subject_id=subject_id, ids=prepared.episode_ids
    ):
        log.info("prepared_compile_stale", subject_id=subject_id)
        return await _compile_locked(session, runtime, tenant_id=tenant_id, subject_id=subject_id)
    return await _commit(session, runtime, prepared)


async def _lock(
    session: AsyncSession, *, tenant_id: str, subject_id: str, lock_wait_seconds: float
) -> None:
    if not await subject_repo.lock_subject(
        session, tenant_id=tenant_id, subject_id=subject_id, wait_seconds=lock_wait_seconds
    ):
        raise CompileInProgress(
            f"Another compile of '{subject_id}' is still running; retry shortly.",
        )


async def _compile_locked(
    session: AsyncSession, runtime: MemoryRuntime, *, tenant_id: str, subject_id: str
) -> list[Memory]:
    """Compile the oldest uncompiled episodes; the caller holds the subject's lock."""
    episodes = await episode_repo.claim_uncompiled(
        session, tenant_id=tenant_id, subject_id=subject_id, limit=MAX_EPISODES_PER_COMPILE
    )
    if not episodes:
        return []
    result = await runtime.compiler.compile([_as_input(e) for e in episodes])
    vectors = None
    if result.drafts and runtime.embedder is not None:
        vectors = await embed_drafts(runtime.embedder, result.drafts, runtime.text_vectors)
    ids = [e.id for e in episodes]
    return await _commit(
        session, runtime, PreparedCompile(tenant_id, subject_id, ids, result, vectors)
    )


async def _commit(
    session: AsyncSession,
    runtime: MemoryRuntime,
    compile_: PreparedCompile,
) -> list[Memory]:
    """Store the drafts with their vectors, supersede what they restate, stamp the
    episodes that compiled and announce it: the compile's whole write (episodes locked)."""
    tenant_id, subject_id, result = compile_.tenant_id, compile_.subject_id, compile_.result
    memories = await _store(
        session,
        runtime,
        tenant_id=tenant_id,
        subject_id=subject_id,
        drafts=result.drafts,
        embedded=compile_.vectors,
    )
    await _supersede_older(session, tenant_id=tenant_id, subject_id=subject_id, new=memories)
    failed = set(result.failed_episode_ids)
    done = [i for i in compile_.episode_ids if i not in failed]
    await episode_repo.mark_compiled(session, tenant_id=tenant_id, subject_id=subject_id, ids=done)
    data = {"subject_id": subject_id, "memories_created": len(memories)}
    await runtime.events.emit(session, tenant_id, "memories.compiled", data)
    return memories


def _as_input(episode: Episode) -> EpisodeInput:
    return EpisodeInput(
        id=episode.id,
        payload=episode.payload,
        created_at=episode.created_at,
        occurred_at=episode.occurred_at,
        source=episode.source,
        type=episode.type,
        session_id=episode.session_id,
    )


async def _store(
    session: AsyncSession,
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
    drafts: Sequence[MemoryDraft],
    embedded: DraftVectors | None,
) -> list[Memory]:
    vectors: list[list[float] | None] = [None] * len(drafts)
    model = None
    if drafts and embedded is not None and runtime.embedder is not None:
        vectors, model = list(embedded.vectors), runtime.embedder.model
        log.info(
            "memories_embedded",
            subject_id=subject_id,
            memories=len(drafts),
            texts_embedded=embedded.texts_embedded,
        )
    rows = [
        NewMemoryRow(
            tenant_id=tenant_id,
            subject_id=subject_id,
            kind=draft.kind,
            content=draft.content,
            summary=draft.summary,
            confidence=draft.confidence,
            valid_from=draft.valid_from,
            source_episode_ids=list(draft.source_episode_ids),
            metadata=dict(draft.metadata),
            embedding=vector,
            embedding_model=model,
        )
        for draft, vector in zip(drafts, vectors, strict=True)
    ]
    return await memory_repo.insert_memories(session, rows)


async def _supersede_older(
    session: AsyncSession, *, tenant_id: str, subject_id: str, new: Sequence[Memory]
) -> None:
    """Older memories of this tenant's subject that the new ones restate are superseded."""
    if not new:
        return
    candidates = await memory_repo.supersede_candidates(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        excluding=[m.id for m in new],
        limit=CONFLICT_WINDOW,
    )
    older = [MemoryRecord(*fields) for fields in candidates]
    # Off the event loop: against a window of thousands of memories the rule takes tens
    # of milliseconds of pure Python (bench/RESULTS.md).
    supersessions = await asyncio.to_thread(find_supersessions, older, [_record(m) for m in new])
    await memory_repo.supersede(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        superseded=[(s.memory_id, s.valid_to, s.superseded_by) for s in supersessions],
    )


def _record(memory: Memory) -> MemoryRecord:
    return MemoryRecord(
        id=memory.id,
        kind=memory.kind,
        content=memory.content,
        valid_from=memory.valid_from,
        created_at=memory.created_at,
    )


async def compile_now(
    db: async_sessionmaker[AsyncSession],
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
) -> list[Memory]:
    """The synchronous compile: one transaction, committed before returning."""
    async with db.begin() as session:
        return await compile_subject(session, runtime, tenant_id=tenant_id, subject_id=subject_id)


async def submit_compile(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    max_attempts: int,
) -> Job:
    """Queue an async compile; any worker (in-process or ``statewave worker``) runs it."""
    async with db.begin() as session:
        return await jobs.enqueue(
            session,
            kind=COMPILE_KIND,
            tenant_id=tenant_id,
            subject_id=subject_id,
            max_attempts=max_attempts,
        )


async def run_compile_job(
    session: AsyncSession,
    runtime: MemoryRuntime,
    job: Job,
    prepared: PreparedCompile | None = None,
) -> dict[str, Any]:
    """The ``compile`` job kind: one bounded chunk (written from ``prepared`` when the
    worker drafted it ahead in a batch), and a follow-up job for what is left.

    Safe to re-run: the worker commits these memories together with the job's completion,
    and already compiled episodes are never picked up again. The follow-up is committed
    with this chunk, so a large backlog never holds one long transaction and a crash loses
    one chunk at most.
    """
    if prepared is not None:
        memories = await write_prepared(session, runtime, prepared)
    else:
        memories = await compile_subject(
            session, runtime, tenant_id=job.tenant_id, subject_id=job.subject_id
        )
    result: dict[str, Any] = {
        "memories_created": len(memories),
        "memory_ids": [str(m.id) for m in memories],
    }
    if memories and await episode_repo.has_uncompiled(
        session, tenant_id=job.tenant_id, subject_id=job.subject_id
    ):
        follow_up = await jobs.enqueue(
            session,
            kind=COMPILE_KIND,
            tenant_id=job.tenant_id,
            subject_id=job.subject_id,
            max_attempts=job.max_attempts,
        )
        result["continued_by"] = follow_up.id
    return result


@dataclass(frozen=True)
class CompileStatus:
    job: Job
    memories: list[Memory]


async def compile_status(
    db: async_sessionmaker[AsyncSession], tenant_id: str, job_id: str
) -> CompileStatus:
    """A compile job of this tenant with the memories it created; NotFound otherwise."""
    async with db() as session:
        job = await jobs.get_job(session, job_id, tenant_id=tenant_id)
        if job is None or job.kind != COMPILE_KIND:
            raise NotFound("Job not found or expired", code="job_not_found")
        ids = [uuid.UUID(i) for i in job.result.get("memory_ids", [])]
        memories = await memory_repo.by_ids(
            session, tenant_id=tenant_id, subject_id=job.subject_id, ids=ids
        )
    return CompileStatus(job, memories)
