"""Job kinds whose queued jobs a worker runs several at a time.

A batchable handler does the expensive, lock-free part of many jobs at once (for
``compile``: drafting and one embedding call for several subjects) in :meth:`prepare`;
the worker then runs each subject's jobs in their own short transaction with
:meth:`run_prepared`, which must give the same result as the plain handler would
(re-checking under its locks that the prepared work still applies). Queued jobs of one
subject run as one: they are completed together with one result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.models import Job


@runtime_checkable
class BatchJobHandler(Protocol):
    """A :data:`~statewave_server.worker.handlers.JobHandler` that can also run in batches."""

    async def __call__(self, session: AsyncSession, job: Job) -> dict[str, Any]: ...

    async def prepare(
        self, db: async_sessionmaker[AsyncSession], jobs: Sequence[Job]
    ) -> Mapping[tuple[str, str], object]:
        """Work for the jobs' subjects done ahead, keyed by ``(tenant_id, subject_id)``;
        a subject may be missing (it then runs as a plain job)."""
        ...

    async def run_prepared(
        self, session: AsyncSession, job: Job, prepared: object | None
    ) -> dict[str, Any]:
        """The job's result, using ``prepared`` when given, in the worker's transaction."""
        ...


def by_subject(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs grouped per ``(tenant_id, subject_id)``, groups and jobs oldest first."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in sorted(jobs, key=lambda j: (j.run_after, j.created_at)):
        groups.setdefault((job.tenant_id, job.subject_id), []).append(job)
    return list(groups.values())
