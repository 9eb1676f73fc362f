"""The ``compile`` job kind: an async compile request, run by any worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import CompilationJob
from statewave_server.services.compilation import COMPILE_KIND, compile_subject
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.worker.handlers import JobHandler


def memory_handlers(runtime: MemoryRuntime) -> dict[str, JobHandler]:
    """Handlers that need the memory runtime (compiler and embedder)."""

    async def compile_job(session: AsyncSession, job: CompilationJob) -> dict[str, Any]:
        # Safe to re-run: the worker commits these memories together with the job's
        # completion, and already compiled episodes are never picked up again.
        memories = await compile_subject(session, runtime, job.tenant_id, job.subject_id)
        return {"memories_created": len(memories), "memory_ids": [str(m.id) for m in memories]}

    return {COMPILE_KIND: compile_job}
