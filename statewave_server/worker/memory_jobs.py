"""The ``compile`` job kind: an async compile request, run by any worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.episodes import has_uncompiled
from statewave_server.db.jobs import enqueue
from statewave_server.db.models import CompilationJob
from statewave_server.services.compilation import COMPILE_KIND, compile_subject
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.worker.handlers import JobHandler


def memory_handlers(runtime: MemoryRuntime) -> dict[str, JobHandler]:
    """Handlers that need the memory runtime (compiler and embedder)."""

    async def compile_job(session: AsyncSession, job: CompilationJob) -> dict[str, Any]:
        # Safe to re-run: the worker commits these memories together with the job's
        # completion, and already compiled episodes are never picked up again. One job is
        # one bounded chunk; what is left goes to a follow-up job committed with it, so a
        # large backlog never holds one long transaction and a crash loses one chunk at most.
        memories = await compile_subject(
            session, runtime, tenant_id=job.tenant_id, subject_id=job.subject_id
        )
        result: dict[str, Any] = {
            "memories_created": len(memories),
            "memory_ids": [str(m.id) for m in memories],
        }
        if memories and await has_uncompiled(
            session, tenant_id=job.tenant_id, subject_id=job.subject_id
        ):
            follow_up = await enqueue(
                session,
                kind=COMPILE_KIND,
                tenant_id=job.tenant_id,
                subject_id=job.subject_id,
                max_attempts=job.max_attempts,
            )
            result["continued_by"] = follow_up.id
        return result

    return {COMPILE_KIND: compile_job}
