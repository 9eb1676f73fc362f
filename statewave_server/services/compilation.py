"""Compiling a subject's new episodes into memories, inside the caller's transaction.

Concurrency-safe: compiles of one subject are serialised by a transaction-scoped advisory
lock, so each one supersedes against everything the previous one stored (two overlapping
compiles could otherwise each miss the other's memories and retire the newer fact);
uncompiled episodes are also locked with ``SKIP LOCKED``, so no episode is processed twice.
Idempotent: episodes are stamped ``last_compiled_at`` in the same transaction as the
memories they produced, so a crash rolls back both. Episodes of a failed LLM batch stay
uncompiled for the next run.
"""

from __future__ import annotations

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
from statewave_server.db.models import CompilationJob, Episode, Memory
from statewave_server.errors import Conflict, NotFound
from statewave_server.services.compiler import (
    EpisodeInput,
    MemoryDraft,
    MemoryRecord,
    find_supersessions,
)
from statewave_server.services.draft_vectors import embed_drafts
from statewave_server.services.runtime import MemoryRuntime

log = structlog.get_logger("statewave.compile")

COMPILE_KIND = "compile"
MAX_EPISODES_PER_COMPILE = 500
# How many of the subject's newest active memories new ones are checked against.
CONFLICT_WINDOW = 2000
# How long a compile waits for the one already running on its subject (below the default
# 30 s statement timeout, so a sync compile answers instead of hanging).
COMPILE_LOCK_WAIT_SECONDS = 20.0


class CompileInProgress(Conflict):
    """The subject's previous compile did not finish in time (409; the caller retries)."""

    code = "compile_in_progress"


async def compile_subject(
    session: AsyncSession,
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
    *,
    lock_wait_seconds: float = COMPILE_LOCK_WAIT_SECONDS,
) -> list[Memory]:
    """Compile up to 500 uncompiled episodes; return the memories created.

    :class:`CompileInProgress` when another compile of the subject holds it longer than
    ``lock_wait_seconds``."""
    if not await subject_repo.lock_subject(
        session, tenant_id, subject_id, wait_seconds=lock_wait_seconds
    ):
        raise CompileInProgress(
            f"Another compile of '{subject_id}' is still running; retry shortly.",
        )
    episodes = await episode_repo.claim_uncompiled(
        session, tenant_id, subject_id, limit=MAX_EPISODES_PER_COMPILE
    )
    if not episodes:
        return []
    result = await runtime.compiler.compile([_as_input(e) for e in episodes])
    memories = await _store(session, runtime, tenant_id, subject_id, result.drafts)
    await _supersede_older(session, tenant_id, subject_id, memories)
    failed = set(result.failed_episode_ids)
    done = [e.id for e in episodes if e.id not in failed]
    await episode_repo.mark_compiled(session, tenant_id, subject_id, done)
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
    tenant_id: str,
    subject_id: str,
    drafts: Sequence[MemoryDraft],
) -> list[Memory]:
    rows = [_row(tenant_id, subject_id, draft) for draft in drafts]
    if rows and runtime.embedder is not None:
        embedded = await embed_drafts(runtime.embedder, drafts)
        for row, vector in zip(rows, embedded.vectors, strict=True):
            row["embedding"] = vector
            row["embedding_model"] = runtime.embedder.model
        log.info(
            "memories_embedded",
            subject_id=subject_id,
            memories=len(rows),
            texts_embedded=embedded.texts_embedded,
        )
    return await memory_repo.insert_memories(session, rows)


def _row(tenant_id: str, subject_id: str, draft: MemoryDraft) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "subject_id": subject_id,
        "kind": draft.kind,
        "content": draft.content,
        "summary": draft.summary,
        "confidence": draft.confidence,
        "valid_from": draft.valid_from,
        "source_episode_ids": list(draft.source_episode_ids),
        "metadata_": dict(draft.metadata),
    }


async def _supersede_older(
    session: AsyncSession, tenant_id: str, subject_id: str, new: Sequence[Memory]
) -> None:
    """Older memories of this tenant's subject that the new ones restate are superseded."""
    if not new:
        return
    new_ids = {m.id for m in new}
    existing = await memory_repo.newest_active(
        session, tenant_id, subject_id, limit=CONFLICT_WINDOW + len(new)
    )
    older = [_record(m) for m in existing if m.id not in new_ids]
    supersessions = find_supersessions(older, [_record(m) for m in new])
    await memory_repo.supersede(
        session,
        tenant_id,
        subject_id,
        [(s.memory_id, s.valid_to, s.superseded_by) for s in supersessions],
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
    sessions: async_sessionmaker[AsyncSession],
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
) -> list[Memory]:
    """The synchronous compile: one transaction, committed before returning."""
    async with sessions.begin() as session:
        return await compile_subject(session, runtime, tenant_id, subject_id)


async def submit_compile(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, subject_id: str, max_attempts: int
) -> CompilationJob:
    """Queue an async compile; any worker (in-process or ``statewave worker``) runs it."""
    async with sessions.begin() as session:
        return await jobs.enqueue(
            session,
            kind=COMPILE_KIND,
            tenant_id=tenant_id,
            subject_id=subject_id,
            max_attempts=max_attempts,
        )


@dataclass(frozen=True)
class CompileStatus:
    job: CompilationJob
    memories: list[Memory]


async def compile_status(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, job_id: str
) -> CompileStatus:
    """A compile job of this tenant with the memories it created; NotFound otherwise."""
    async with sessions() as session:
        job = await jobs.get_job(session, job_id, tenant_id=tenant_id)
        if job is None or job.kind != COMPILE_KIND:
            raise NotFound("Job not found or expired", code="job_not_found")
        ids = [uuid.UUID(i) for i in job.result.get("memory_ids", [])]
        memories = await memory_repo.by_ids(session, tenant_id, job.subject_id, ids)
    return CompileStatus(job, memories)
