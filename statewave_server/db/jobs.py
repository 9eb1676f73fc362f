"""All SQL for ``compilation_jobs``: enqueue, claim, heartbeat, finish, orphan recovery,
and the operator's listing, lookup and purge.

Every function takes the caller's session and never commits: the caller owns the unit of
work. Times come from the database clock (``now()``) so workers on different hosts agree.
A worker only changes a job it still owns (``claimed_by`` = it and ``status`` = running), so
a worker whose job was rescued and re-claimed elsewhere can no longer touch it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Job

PENDING: Final = "pending"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
DEAD: Final = "dead"
STATUSES: Final = (PENDING, RUNNING, COMPLETED, DEAD)


@dataclass(frozen=True)
class RecoveredJobs:
    """Outcome of an orphan sweep: ids put back to ``pending`` and ids that ran out of tries."""

    requeued: list[str]
    dead: list[str]


def orphaned(orphan_after_seconds: float) -> ColumnElement[bool]:
    """Running, and nothing heard from its worker (heartbeat, else claim) for the threshold.

    ``started_at`` is the last fallback so a row hand-edited to ``claimed_at = NULL`` while
    still ``running`` is not stuck forever.
    """
    last_sign_of_life = func.coalesce(Job.heartbeat_at, Job.claimed_at, Job.started_at)
    return and_(
        Job.status == RUNNING,
        last_sign_of_life < func.now() - timedelta(seconds=orphan_after_seconds),
    )


def _lost_message(outcome: str) -> ColumnElement[str]:
    """The error kept on a rescued job, naming the worker that went silent."""
    worker = func.coalesce(Job.claimed_by, "?")
    return func.concat("worker ", worker, f" stopped heartbeating; {outcome}")


def _owned_by(job_id: str, worker_id: str) -> ColumnElement[bool]:
    return and_(
        Job.id == job_id,
        Job.claimed_by == worker_id,
        Job.status == RUNNING,
    )


async def count_orphaned_jobs(session: AsyncSession, orphan_after_seconds: float) -> int:
    """How many running jobs have shown no sign of life for ``orphan_after_seconds``."""
    stmt = select(func.count()).select_from(Job).where(orphaned(orphan_after_seconds))
    return int(await session.scalar(stmt) or 0)


async def rescue_orphaned_jobs(
    session: AsyncSession, orphan_after_seconds: float, *, job_id: str | None = None
) -> RecoveredJobs:
    """Return orphaned jobs (every one, or only ``job_id``) to ``pending``; those that used
    their last attempt become ``dead``.

    Burying exhausted orphans stops a job that kills its worker (OOM, segfault) from
    taking down every worker in turn. A running job still heard from is never matched, so a
    live worker's job is not taken from it.
    """
    target = orphaned(orphan_after_seconds)
    if job_id is not None:
        target = and_(target, Job.id == job_id)
    exhausted = Job.attempts >= Job.max_attempts
    dead = await session.scalars(
        update(Job)
        .where(target, exhausted)
        .values(
            status=DEAD,
            completed_at=func.now(),
            error=_lost_message("no attempts left"),
        )
        .returning(Job.id)
    )
    dead_ids = list(dead)
    requeued = await session.scalars(
        update(Job)
        .where(target, ~exhausted)
        .values(
            status=PENDING,
            claimed_at=None,
            claimed_by=None,
            heartbeat_at=None,
            run_after=func.now(),
            error=_lost_message("returned to pending"),
        )
        .returning(Job.id)
    )
    return RecoveredJobs(requeued=list(requeued), dead=dead_ids)


async def retry_dead_jobs(session: AsyncSession, job_ids: Sequence[str] | None) -> list[str]:
    """Dead jobs (the given ids, or all with None) back to ``pending`` with fresh attempts;
    the ids actually retried (unknown or not-dead ids are not). The last error is kept
    until the next attempt replaces it."""
    statement = update(Job).where(Job.status == DEAD)
    if job_ids is not None:
        statement = statement.where(Job.id.in_(list(job_ids)))
    retried = await session.scalars(
        statement.values(
            status=PENDING,
            attempts=0,
            run_after=func.now(),
            claimed_at=None,
            claimed_by=None,
            heartbeat_at=None,
            completed_at=None,
        ).returning(Job.id)
    )
    return list(retried)


#: ``LISTEN`` channel on which a committed ``enqueue`` wakes idle workers.
JOBS_CHANNEL: Final = "statewave_jobs"


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    subject_id: str,
    tenant_id: str,
    payload: dict[str, Any] | None = None,
    max_attempts: int = 3,
) -> Job:
    """Insert a ``pending`` job runnable now; visible to workers once the caller commits."""
    stmt = (
        insert(Job)
        .values(
            id=uuid.uuid4().hex,
            kind=kind,
            tenant_id=tenant_id,
            subject_id=subject_id,
            payload=payload or {},
            max_attempts=max_attempts,
        )
        .returning(Job)
    )
    job = (await session.scalars(stmt)).one()
    # Delivered at commit: idle workers listening on JOBS_CHANNEL claim it at once instead
    # of at their next poll.
    await session.execute(select(func.pg_notify(JOBS_CHANNEL, kind)))
    return job


async def claim_next(
    session: AsyncSession, worker_id: str, kinds: Collection[str] | None = None
) -> Job | None:
    """Atomically take the oldest runnable job (``SKIP LOCKED``: claimers never collide)."""
    candidate = _runnable()
    if kinds is not None:
        candidate = candidate.where(Job.kind.in_(list(kinds)))
    next_id = candidate.limit(1).with_for_update(skip_locked=True).scalar_subquery()
    claimed = await _take(session, worker_id, Job.id == next_id)
    return claimed[0] if claimed else None


async def claim_companions(
    session: AsyncSession, worker_id: str, first: Job, *, subjects: int, scan: int
) -> list[Job]:
    """More runnable jobs of ``first``'s kind to run together with it: every queued
    duplicate of its subject and the jobs of up to ``subjects - 1`` other subjects, oldest
    first, looking at no more than ``scan`` queued jobs (``SKIP LOCKED`` like a claim)."""
    queued = await session.execute(
        _runnable(Job.id, Job.tenant_id, Job.subject_id)
        .where(Job.kind == first.kind)
        .limit(scan)
        .with_for_update(skip_locked=True)
    )
    chosen = {(first.tenant_id, first.subject_id)}
    ids: list[str] = []
    for job_id, tenant_id, subject_id in queued:
        key = (tenant_id, subject_id)
        if key not in chosen and len(chosen) < subjects:
            chosen.add(key)
        if key in chosen:
            ids.append(job_id)
    return await _take(session, worker_id, Job.id.in_(ids)) if ids else []


def _runnable(*columns: Any) -> Select[Any]:
    """Pending jobs whose time has come, in claim order."""
    return (
        select(*(columns or (Job.id,)))
        .where(Job.status == PENDING, Job.run_after <= func.now())
        .order_by(Job.run_after, Job.created_at)
    )


async def _take(session: AsyncSession, worker_id: str, which: ColumnElement[bool]) -> list[Job]:
    """Mark the selected jobs running and ours (one more attempt each)."""
    stmt = (
        update(Job)
        .where(which)
        .values(
            status=RUNNING,
            claimed_at=func.now(),
            claimed_by=worker_id,
            heartbeat_at=func.now(),
            started_at=func.now(),
            attempts=Job.attempts + 1,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return list((await session.scalars(stmt)).all())


async def heartbeat(session: AsyncSession, job_ids: Collection[str], worker_id: str) -> set[str]:
    """Refresh ``heartbeat_at`` and ``claimed_at`` of our jobs; the ids still ours (one
    statement for a whole claimed batch).

    ``claimed_at`` is the claim's lease, renewed with every beat: the runbook's manual reset
    (``… claimed_at < NOW() - INTERVAL '30 minutes'``) then only matches silent workers.
    """
    stmt = (
        update(Job)
        .where(
            Job.id.in_(list(job_ids)),
            Job.claimed_by == worker_id,
            Job.status == RUNNING,
        )
        .values(heartbeat_at=func.now(), claimed_at=func.now())
        .returning(Job.id)
    )
    return set(await session.scalars(stmt))


async def complete(
    session: AsyncSession, job_id: str, worker_id: str, result: dict[str, Any]
) -> bool:
    """Mark our job ``completed`` with its result; False (no change) if we no longer own it."""
    created = result.get("memories_created", 0)
    stmt = (
        update(Job)
        .where(_owned_by(job_id, worker_id))
        .values(
            status=COMPLETED,
            result=result,
            memories_created=created if isinstance(created, int) else 0,
            error=None,
            completed_at=func.now(),
        )
        .returning(Job.id)
    )
    return (await session.scalar(stmt)) is not None


async def fail(
    session: AsyncSession, job_id: str, worker_id: str, error: str, retry_delay_seconds: float
) -> str | None:
    """Record a failed attempt: back to ``pending`` after the delay, or ``dead`` on the last.

    Returns the new status, or None when the job is no longer ours (nothing changed).
    """
    job = await session.scalar(select(Job).where(_owned_by(job_id, worker_id)).with_for_update())
    if job is None:
        return None
    job.error = error
    if job.attempts >= job.max_attempts:
        job.status = DEAD
        job.completed_at = func.now()
    else:
        job.status = PENDING
        job.run_after = func.now() + timedelta(seconds=retry_delay_seconds)
        job.claimed_at = job.claimed_by = job.heartbeat_at = None
    status = job.status
    await session.flush()
    return status


# --- the operator's view ----------------------------------------------------------------


def _job_filters(
    status: str | None, statuses: Sequence[str] | None, fields: dict[str, str | None]
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if status is not None:
        clauses.append(Job.status == status)
    if statuses is not None:
        clauses.append(Job.status.in_(list(statuses)))
    for name, value in fields.items():
        if value is not None:
            clauses.append(getattr(Job, name) == value)
    return clauses


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int


async def list_jobs(
    session: AsyncSession,
    *,
    status: str | None,
    subject_id: str | None,
    tenant_id: str | None,
    kind: str | None,
    limit: int,
    offset: int = 0,
    stuck_after_seconds: float | None = None,
    id_prefix: str | None = None,
) -> JobPage:
    """Newest jobs first, each filter applied when not None (``tenant_id=None`` is every
    tenant: an operator's view; ``id_prefix`` finds the job a short id names); running jobs
    silent for ``stuck_after_seconds`` come before all others, so the one to act on is on
    top. ``total`` ignores paging."""
    fields = {"subject_id": subject_id, "tenant_id": tenant_id, "kind": kind}
    clauses = _job_filters(status, None, fields)
    if id_prefix is not None:
        clauses.append(Job.id.startswith(id_prefix, autoescape=True))
    order: list[Any] = [Job.created_at.desc(), Job.id]
    if stuck_after_seconds is not None:
        order.insert(0, case((orphaned(stuck_after_seconds), 0), else_=1))
    rows = await session.scalars(
        select(Job).where(*clauses).order_by(*order).limit(limit).offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(Job).where(*clauses))
    return JobPage(list(rows), int(total or 0))


async def get_job(session: AsyncSession, job_id: str, *, tenant_id: str | None) -> Job | None:
    """One job; with a ``tenant_id``, only if it belongs to that tenant (another tenant's id
    reads as missing); ``None`` is the operator's lookup across tenants."""
    stmt = select(Job).where(Job.id == job_id)
    if tenant_id is not None:
        stmt = stmt.where(Job.tenant_id == tenant_id)
    return await session.scalar(stmt)


async def purge_jobs(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    subject_id: str | None,
    tenant_id: str | None,
    kind: str | None,
    older_than: datetime | None,
    dry_run: bool = False,
) -> int:
    """Delete jobs in ``statuses`` matching every given filter; the number deleted (with
    ``dry_run``: the number that would be, deleting nothing; one WHERE for both, so a
    preview and its delete cannot disagree on what they match)."""
    fields = {"subject_id": subject_id, "tenant_id": tenant_id, "kind": kind}
    clauses = _job_filters(None, statuses, fields)
    if older_than is not None:
        clauses.append(Job.created_at < older_than)
    if dry_run:
        return int(await session.scalar(select(func.count()).select_from(Job).where(*clauses)) or 0)
    result = await session.execute(delete(Job).where(*clauses))
    return int(result.rowcount)  # type: ignore[attr-defined]
