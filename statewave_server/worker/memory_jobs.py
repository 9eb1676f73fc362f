"""The ``compile`` job kind: an async compile request, run by any worker.

Queued compiles of several subjects run as one batch (:mod:`.batching`): their episodes
are drafted and all their texts embedded in one model call outside any transaction, then
each subject is written in its own short transaction under its lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.episodes import has_uncompiled
from statewave_server.db.jobs import enqueue
from statewave_server.db.models import CompilationJob
from statewave_server.services.compilation import (
    COMPILE_KIND,
    MAX_EPISODES_PER_BATCH,
    PreparedCompile,
    compile_subject,
    prepare_compiles,
    write_prepared,
)
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.worker.handlers import JobHandler


class CompileJobs:
    """Runs ``compile`` jobs alone or, through :meth:`prepare`, many subjects together."""

    def __init__(self, runtime: MemoryRuntime) -> None:
        self._runtime = runtime

    async def __call__(self, session: AsyncSession, job: CompilationJob) -> dict[str, Any]:
        return await self.run_prepared(session, job, None)

    async def prepare(
        self, sessions: async_sessionmaker[AsyncSession], jobs: Sequence[CompilationJob]
    ) -> Mapping[tuple[str, str], object]:
        subjects = list(dict.fromkeys((job.tenant_id, job.subject_id) for job in jobs))
        return await prepare_compiles(
            sessions, self._runtime, subjects, max_episodes=MAX_EPISODES_PER_BATCH
        )

    async def run_prepared(
        self, session: AsyncSession, job: CompilationJob, prepared: object | None
    ) -> dict[str, Any]:
        # Safe to re-run: the worker commits these memories together with the job's
        # completion, and already compiled episodes are never picked up again. One job is
        # one bounded chunk; what is left goes to a follow-up job committed with it, so a
        # large backlog never holds one long transaction and a crash loses one chunk at most.
        if isinstance(prepared, PreparedCompile):
            memories = await write_prepared(session, self._runtime, prepared)
        else:
            memories = await compile_subject(session, self._runtime, job.tenant_id, job.subject_id)
        result: dict[str, Any] = {
            "memories_created": len(memories),
            "memory_ids": [str(m.id) for m in memories],
        }
        if memories and await has_uncompiled(session, job.tenant_id, job.subject_id):
            follow_up = await enqueue(
                session,
                kind=COMPILE_KIND,
                tenant_id=job.tenant_id,
                subject_id=job.subject_id,
                max_attempts=job.max_attempts,
            )
            result["continued_by"] = follow_up.id
        return result


def memory_handlers(runtime: MemoryRuntime) -> dict[str, JobHandler]:
    """Handlers that need the memory runtime (compiler and embedder)."""
    return {COMPILE_KIND: CompileJobs(runtime)}
