"""The ``compile`` job kind: an async compile request, run by any worker.

Queued compiles of several subjects run as one batch (:mod:`.batching`): their episodes
are drafted and all their texts embedded in one model call outside any transaction, then
each subject is written in its own short transaction under its lock
(``services/compilation.py:run_compile_job``, which also queues the follow-up chunk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.models import Job
from statewave_server.services.compilation import (
    MAX_EPISODES_PER_BATCH,
    PreparedCompile,
    prepare_compiles,
    run_compile_job,
)
from statewave_server.services.runtime import MemoryRuntime


class CompileJobs:
    """Runs ``compile`` jobs alone or, through :meth:`prepare`, many subjects together."""

    def __init__(self, runtime: MemoryRuntime) -> None:
        self._runtime = runtime

    async def __call__(self, session: AsyncSession, job: Job) -> dict[str, Any]:
        return await run_compile_job(session, self._runtime, job)

    async def prepare(
        self, db: async_sessionmaker[AsyncSession], jobs: Sequence[Job]
    ) -> Mapping[tuple[str, str], object]:
        subjects = list(dict.fromkeys((job.tenant_id, job.subject_id) for job in jobs))
        return await prepare_compiles(
            db, self._runtime, subjects, max_episodes=MAX_EPISODES_PER_BATCH
        )

    async def run_prepared(
        self, session: AsyncSession, job: Job, prepared: object | None
    ) -> dict[str, Any]:
        ahead = prepared if isinstance(prepared, PreparedCompile) else None
        return await run_compile_job(session, self._runtime, job, ahead)
