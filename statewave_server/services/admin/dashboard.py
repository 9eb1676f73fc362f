"""Introspection: dashboard, tenants, tenant audit, usage, compile jobs and outbox purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import jobs as job_repo
from statewave_server.db import outbox
from statewave_server.db.admin_queries import counts as repo
from statewave_server.db.engine import Database
from statewave_server.db.models import Episode, Job, Memory, WebhookEvent
from statewave_server.db.read_routing import SessionFactory
from statewave_server.errors import BadRequest, Conflict, NotFound
from statewave_server.ops.migrations import MigrationDetails, inspect_database
from statewave_server.ops.readiness import check_readiness
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.admin")

JOB_TERMINAL = ("completed", "dead")
#: What a rescue returns: the ids put back to pending and the ids buried as dead.
Rescued = job_repo.RecoveredJobs
WEBHOOK_TERMINAL = ("delivered", "dead_letter")


async def dashboard(database: Database, settings: Settings) -> dict[str, Any]:
    """Readiness, schema, row counts, job and outbox queues, health distribution."""
    readiness = await check_readiness(database, settings)
    migration, details = await inspect_database(
        database.engine, timeout_seconds=settings.db_connect_timeout_seconds, verbose=True
    )
    async with database.primary() as session:
        counts = {
            "episodes": await repo.count_rows(session, Episode),
            "memories": await repo.count_rows(session, Memory),
            "subjects": await repo.count_active_subjects(session),
        }
        jobs = await repo.job_status_counts(session)
        webhooks = await outbox.stats(session)
        health: dict[str, int] | None
        try:
            health = await repo.health_state_counts(session)
        except SQLAlchemyError as exc:
            log.warning("dashboard_health_failed", error=str(exc)[:300])
            health = None
    return {
        "readiness": {
            "status": readiness.status,
            "checks": [
                {
                    "name": c.name,
                    "status": c.status,
                    "detail": c.detail or "",
                    "latency_ms": c.latency_ms or 0,
                }
                for c in readiness.checks
            ],
        },
        "migration": {
            "current_revision": migration.current_revision,
            "expected_head": migration.expected_head,
            "is_compatible": migration.is_compatible,
            "pending_count": migration.pending_count,
            "recent": recent_migrations(details),
            "checksum_drift": [d.revision for d in details.checksum_drift] if details else [],
        },
        "counts": counts,
        "jobs": jobs,
        "webhooks": webhooks,
        "health_distribution": health,
    }


#: How many applied-migration audit rows the dashboard shows (newest first).
RECENT_MIGRATIONS = 5


def recent_migrations(details: MigrationDetails | None) -> list[dict[str, Any]]:
    """The newest audit rows (revision, direction, when, by which app version, checksum),
    each flagged when its revision file no longer matches the recorded checksum."""
    if details is None:
        return []
    current = {d.revision: d.current_checksum for d in details.checksum_drift}
    newest = list(reversed(details.history))[:RECENT_MIGRATIONS]
    return [
        {
            **entry.model_dump(),
            "drifted": current.get(entry.revision, entry.checksum) != entry.checksum,
        }
        for entry in newest
    ]


async def tenants(db: SessionFactory) -> list[str]:
    async with db() as session:
        return await repo.tenant_ids(session)


async def tenant_audit(db: SessionFactory) -> dict[str, Any]:
    """Tenant ids are never NULL here; the audit reports the default tenant's rows instead."""
    async with db() as session:
        default_rows = await repo.default_tenant_counts(session)
    return {
        "null_tenant_rows": dict.fromkeys(default_rows, 0),
        "default_tenant_rows": default_rows,
        "guidance": (
            "tenant_id is never NULL: rows written without a tenant header belong to the "
            "default tenant ''. To move a subject to a tenant, export it and import it with "
            "target_tenant_id, then delete the original."
        ),
    }


async def usage(db: SessionFactory, tenant_id: str | None) -> dict[str, Any]:
    """Rows created today (UTC), in 7 and 30 days and in total; active subjects."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    windows: dict[str, datetime | None] = {
        "today": midnight,
        "7d": now - timedelta(days=7),
        "30d": now - timedelta(days=30),
        "total": None,
    }
    tables: dict[str, repo.CountedModel] = {
        "episodes": Episode,
        "memories": Memory,
        "compile_jobs": Job,
        "webhooks": WebhookEvent,
    }
    report: dict[str, Any] = {
        "period_start": midnight.isoformat(),
        "generated_at": now.isoformat(),
        "tenant_id": tenant_id,
    }
    async with db() as session:
        for name, model in tables.items():
            report[name] = {
                label: await repo.count_rows(session, model, tenant_id=tenant_id, since=since)
                for label, since in windows.items()
            }
        report["active_subjects"] = {
            label: await repo.count_active_subjects(session, tenant_id=tenant_id, since=since)
            for label, since in windows.items()
            if label != "today"
        }
    return report


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    subject_id: str | None = None
    tenant_id: str | None = None
    kind: str | None = None
    id_prefix: str | None = None


async def list_jobs(
    db: async_sessionmaker[AsyncSession],
    selector: JobFilter,
    *,
    limit: int,
    offset: int,
    stuck_after_seconds: float | None = None,
) -> job_repo.JobPage:
    async with db() as session:
        return await job_repo.list_jobs(
            session,
            status=selector.status,
            subject_id=selector.subject_id,
            tenant_id=selector.tenant_id,
            kind=selector.kind,
            limit=limit,
            offset=offset,
            stuck_after_seconds=stuck_after_seconds,
            id_prefix=selector.id_prefix,
        )


async def retry_dead_jobs(
    db: async_sessionmaker[AsyncSession], job_ids: list[str] | None
) -> list[str]:
    """Dead jobs (these ids, or every one) back to pending with fresh attempts."""
    async with db.begin() as session:
        return await job_repo.retry_dead_jobs(session, job_ids)


async def orphaned_jobs(db: SessionFactory, after_seconds: float) -> int:
    """How many running jobs have been silent for ``after_seconds`` (the rescue's target)."""
    async with db() as session:
        return await job_repo.count_orphaned_jobs(session, after_seconds)


async def rescue_jobs(db: async_sessionmaker[AsyncSession], after_seconds: float) -> Rescued:
    """Running jobs silent for ``after_seconds`` back to pending (exhausted ones: dead)."""
    async with db.begin() as session:
        return await job_repo.rescue_orphaned_jobs(session, after_seconds)


async def rescue_job(
    db: async_sessionmaker[AsyncSession], job_id: str, after_seconds: float
) -> Rescued:
    """One running job silent for ``after_seconds`` back to pending (out of attempts: dead).

    An unknown id is :class:`NotFound`; a job that is not running, or whose worker is still
    heard from, is :class:`Conflict` and left alone (a live worker's job is never taken).
    """
    async with db.begin() as session:
        swept = await job_repo.rescue_orphaned_jobs(session, after_seconds, job_id=job_id)
        if swept.requeued or swept.dead:
            return swept
        job = await job_repo.get_job(session, job_id, tenant_id=None)
    if job is None:
        raise NotFound("Job not found", code="job_not_found")
    state = "its worker is still heartbeating" if job.status == "running" else job.status
    raise Conflict(
        f"Job {job_id} is not a silent running job ({state}); nothing was rescued",
        code="job_not_stuck",
        details={"status": job.status, "orphan_after_seconds": after_seconds},
    )


async def job_kinds(db: async_sessionmaker[AsyncSession]) -> list[str]:
    """The kinds the jobs table holds (the console's kind filter offers these)."""
    async with db() as session:
        return await repo.distinct_values(session, Job.kind)


async def event_types(db: async_sessionmaker[AsyncSession]) -> list[str]:
    """The event types the webhook outbox holds (the console's event filter offers these)."""
    async with db() as session:
        return await repo.distinct_values(session, WebhookEvent.event)


async def job_stats(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with db() as session:
        counts = await repo.job_status_counts(session)
    base = dict.fromkeys(("pending", "running", "completed", "dead"), 0)
    base.update(counts)
    return {**base, "total": sum(base.values())}


async def get_job(db: async_sessionmaker[AsyncSession], job_id: str) -> Job:
    async with db() as session:
        job = await job_repo.get_job(session, job_id, tenant_id=None)
    if job is None:
        raise NotFound("Job not found", code="job_not_found")
    return job


def _terminal(status: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if status is None:
        return allowed
    if status not in allowed:
        raise BadRequest(f"status must be one of {allowed}; got {status!r}")
    return (status,)


async def purge_jobs(
    db: async_sessionmaker[AsyncSession],
    selector: JobFilter,
    *,
    older_than_hours: float | None = None,
    dry_run: bool = False,
) -> int:
    """Delete finished jobs (``completed``/``dead``) matching at least one filter; with
    ``dry_run``, count them instead (the same filter: what a preview shows is what goes)."""
    given = (selector.status, selector.subject_id, selector.tenant_id, selector.kind)
    if all(v is None for v in given) and older_than_hours is None:
        raise BadRequest("at least one filter is required")
    statuses = _terminal(selector.status, JOB_TERMINAL)
    cutoff = _cutoff(older_than_hours)
    async with db.begin() as session:
        return await job_repo.purge_jobs(
            session,
            statuses=statuses,
            subject_id=selector.subject_id,
            tenant_id=selector.tenant_id,
            kind=selector.kind,
            older_than=cutoff,
            dry_run=dry_run,
        )


async def purge_webhook_events(
    db: async_sessionmaker[AsyncSession],
    *,
    status: str | None,
    event_type: str | None,
    tenant_id: str | None,
    older_than_hours: float | None = None,
    dry_run: bool = False,
) -> int:
    """Delete delivered/dead-lettered outbox rows matching at least one filter; with
    ``dry_run``, count them instead (the same filter)."""
    if all(v is None for v in (status, event_type, tenant_id, older_than_hours)):
        raise BadRequest("at least one filter is required")
    statuses = _terminal(status, WEBHOOK_TERMINAL)
    async with db.begin() as session:
        return await outbox.purge_webhook_events(
            session,
            statuses=statuses,
            event_type=event_type,
            tenant_id=tenant_id,
            older_than=_cutoff(older_than_hours),
            dry_run=dry_run,
        )


def _cutoff(hours: float | None) -> datetime | None:
    return None if hours is None else datetime.now(UTC) - timedelta(hours=hours)
