"""``/admin`` introspection: dashboard, tenants, usage, compile jobs, outbox purge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from statewave_server.api.deps import DatabaseDep, DbDep, ReadDbDep, SettingsDep
from statewave_server.api.schemas.admin import (
    JobDetail,
    JobItem,
    JobsPage,
    Purged,
    RescueJobsBody,
    RescueJobsResponse,
    RetryJobsBody,
    RetryJobsResponse,
)
from statewave_server.api.schemas.common import MAX_OFFSET, NO_NUL
from statewave_server.services.admin import dashboard as service
from statewave_server.services.admin.dashboard import JobFilter

router = APIRouter(prefix="/admin", tags=["admin"])

JobStatus = Literal["pending", "running", "completed", "dead"]
Tenant = Annotated[str | None, Query(max_length=256, pattern=NO_NUL)]
Text = Annotated[str | None, Query(min_length=1, max_length=256, pattern=NO_NUL)]
Hours = Annotated[float | None, Query(ge=0, le=876_000, allow_inf_nan=False)]
DryRun = Annotated[bool, Query(description="Count what would be deleted; delete nothing.")]
JobIdPath = Annotated[str, Path(max_length=64, pattern=NO_NUL)]
IdPrefix = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$", description="Short id.")
]


@router.get("/dashboard")
async def dashboard(database: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    """Readiness, schema state, row counts, job and outbox queues, health distribution."""
    return await service.dashboard(database, settings)


@router.get("/tenants")
async def tenants(db: ReadDbDep) -> dict[str, list[str]]:
    """Tenants holding data (``''`` is the default tenant), sorted."""
    return {"tenants": await service.tenants(db)}


@router.get("/tenant-audit")
async def tenant_audit(db: ReadDbDep) -> dict[str, Any]:
    return await service.tenant_audit(db)


@router.get("/usage")
async def usage(db: ReadDbDep, tenant_id: Tenant = None) -> dict[str, Any]:
    """Rows created today / 7 d / 30 d / in total, and active subjects (one tenant or all)."""
    return await service.usage(db, tenant_id)


@router.get("/jobs", response_model=JobsPage)
async def list_jobs(
    db: DbDep,
    status: JobStatus | None = None,
    subject_id: Text = None,
    tenant_id: Tenant = None,
    kind: Text = None,
    id_prefix: IdPrefix = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobsPage:
    """Jobs across tenants, newest first (``id_prefix``: the jobs a short id names)."""
    selector = JobFilter(status, subject_id, tenant_id, kind, id_prefix)
    page = await service.list_jobs(db, selector, limit=limit, offset=offset)
    return JobsPage(
        jobs=[JobItem.model_validate(j) for j in page.jobs],
        total=page.total,
        limit=limit,
        offset=offset,
    )


def _purged(count: int, dry_run: bool) -> Purged:
    return Purged(deleted=0 if dry_run else count, matched=count, dry_run=dry_run)


@router.delete("/jobs", response_model=Purged)
async def purge_jobs(
    db: DbDep,
    status: JobStatus | None = None,
    subject_id: Text = None,
    tenant_id: Tenant = None,
    kind: Text = None,
    older_than_hours: Hours = None,
    dry_run: DryRun = False,
) -> Purged:
    """Delete finished jobs (completed/dead); at least one filter is required (else 400).
    ``dry_run=true`` only counts them (``matched``), with exactly the delete's filter."""
    selector = JobFilter(status, subject_id, tenant_id, kind)
    count = await service.purge_jobs(
        db, selector, older_than_hours=older_than_hours, dry_run=dry_run
    )
    return _purged(count, dry_run)


@router.post("/jobs/retry", response_model=RetryJobsResponse)
async def retry_jobs(body: RetryJobsBody, db: DbDep) -> RetryJobsResponse:
    """Dead jobs back to pending with fresh attempts; ids not dead (or unknown) are listed
    in ``not_retried`` and left alone."""
    retried = await service.retry_dead_jobs(db, None if body.all_dead else body.job_ids)
    missed = [job_id for job_id in body.job_ids or [] if job_id not in set(retried)]
    return RetryJobsResponse(retried=retried, not_retried=missed)


@router.post("/jobs/rescue", response_model=RescueJobsResponse)
async def rescue_jobs(body: RescueJobsBody, db: DbDep, settings: SettingsDep) -> RescueJobsResponse:
    """Running jobs whose worker went silent back to pending (out of attempts: dead)."""
    threshold = body.older_than_seconds
    if threshold is None:
        threshold = settings.job_orphan_after_seconds
    swept = await service.rescue_jobs(db, threshold)
    return RescueJobsResponse(
        older_than_seconds=threshold, requeued=swept.requeued, dead=swept.dead
    )


@router.post("/jobs/{job_id}/rescue", response_model=RescueJobsResponse)
async def rescue_job(job_id: JobIdPath, db: DbDep, settings: SettingsDep) -> RescueJobsResponse:
    """One running job silent past ``STATEWAVE_JOB_ORPHAN_AFTER_SECONDS`` back to pending (out
    of attempts: dead). 404 unknown id; 409 ``job_not_stuck`` when it is not running or its
    worker still heartbeats (a live worker's job is never taken)."""
    threshold = settings.job_orphan_after_seconds
    swept = await service.rescue_job(db, job_id, threshold)
    return RescueJobsResponse(
        older_than_seconds=threshold, requeued=swept.requeued, dead=swept.dead
    )


@router.get("/jobs/stats")
async def job_stats(db: DbDep) -> dict[str, int]:
    return await service.job_stats(db)


@router.get("/jobs/{job_id}", response_model=JobDetail)
async def get_job(job_id: JobIdPath, db: DbDep) -> JobDetail:
    return JobDetail.model_validate(await service.get_job(db, job_id))


@router.delete("/webhooks", response_model=Purged)
async def purge_webhooks(
    db: DbDep,
    status: Literal["delivered", "dead_letter"] | None = None,
    event_type: Text = None,
    tenant_id: Tenant = None,
    older_than_hours: Hours = None,
    dry_run: DryRun = False,
) -> Purged:
    """Delete delivered / dead-lettered outbox rows; at least one filter is required.
    ``dry_run=true`` only counts them (``matched``)."""
    count = await service.purge_webhook_events(
        db,
        status=status,
        event_type=event_type,
        tenant_id=tenant_id,
        older_than_hours=older_than_hours,
        dry_run=dry_run,
    )
    return _purged(count, dry_run)
