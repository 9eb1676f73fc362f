"""The dashboard and the compile-job pages: list, detail, retry, rescue and purge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.api.deps import DatabaseDep, DbDep, SettingsDep
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.charts import last_day_charts
from statewave_server.console.errors import DATA_PAGE, HtmlErrorRoute
from statewave_server.console.pages.subjects import HEALTH_STATES
from statewave_server.console.pages.webhooks import WEBHOOK_STATUSES
from statewave_server.console.purge import PurgeChoice, PurgePage, purge_step
from statewave_server.console.web import (
    PAGE_SIZE,
    FormDep,
    Offset,
    PageError,
    TenantChoice,
    Text,
    list_page,
    log,
    notice_redirect,
    number,
    render,
    tenant_choice,
)
from statewave_server.db.models import Job
from statewave_server.services.admin import activity
from statewave_server.services.admin import dashboard as dashboard_service
from statewave_server.services.admin.dashboard import JobFilter
from statewave_server.settings import Settings

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute, dependencies=DATA_PAGE)

JOB_STATUSES: Final = ("pending", "running", "completed", "dead")


async def _orphans(db: DbDep, settings: Settings) -> dict[str, Any]:
    """The orphaned-job count and its threshold, for the rescue form."""
    after = settings.job_orphan_after_seconds
    return {
        "orphaned": await dashboard_service.orphaned_jobs(db, after),
        "orphan_minutes": after / 60,
    }


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    db: DbDep,
    refresh: Annotated[int | None, Query(ge=10, le=3600)] = None,
) -> Response:
    """Readiness, schema (with the newest applied migrations), queues, health and the last
    24 hours as sparklines; ``?refresh=N`` reloads it every N seconds (a meta refresh: no
    JavaScript) for a screen left open on call."""
    data = await dashboard_service.dashboard(database, settings)
    tenants = await dashboard_service.tenants(db)
    day = await activity.last_day(db)
    return render(
        request,
        "dashboard.html",
        title="Dashboard",
        data=data,
        tenants=tenants,
        **await _orphans(db, settings),
        job_statuses=JOB_STATUSES,
        webhook_statuses=WEBHOOK_STATUSES,
        health_states=HEALTH_STATES,
        refresh=refresh,
        charts=last_day_charts(day),
        charts_at=day.computed_at,
        api_base=str(request.base_url),  # for the first-steps snippet of an empty database
    )


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    status: Text = "",
    tenant_id: TenantChoice = None,
    kind: Text = "",
    subject_id: Text = "",
    offset: Offset = 0,
) -> Response:
    selector = JobFilter(
        status=status if status in JOB_STATUSES else None,
        subject_id=subject_id or None,
        tenant_id=tenant_choice(tenant_id),
        kind=kind or None,
    )
    stuck_after = settings.job_orphan_after_seconds
    page = await dashboard_service.list_jobs(
        db, selector, limit=PAGE_SIZE, offset=offset, stuck_after_seconds=stuck_after
    )
    params: dict[str, str | int | None] = {
        "status": selector.status,
        "tenant_id": tenant_id,
        "kind": kind,
        "subject_id": subject_id,
    }
    now = datetime.now(UTC)
    return await list_page(
        request,
        "jobs.html",
        db,
        tenant_id=tenant_id,
        total=page.total,
        offset=offset,
        params=params,
        title="Jobs",
        jobs=page.jobs,
        stuck_ids={j.id for j in page.jobs if _silent_for(j, now) > stuck_after},
        stats=await dashboard_service.job_stats(db),
        **await _orphans(db, settings),
        statuses=JOB_STATUSES,
        kinds=await dashboard_service.job_kinds(db),
    )


def _silent_for(job: Job, now: datetime) -> float:
    """Seconds since a running job's last sign of life (0 for any other status)."""
    last = job.heartbeat_at or job.claimed_at or job.started_at
    if job.status != "running" or last is None:
        return 0.0
    return (now - last).total_seconds()


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    job_id: Annotated[str, Path(max_length=64)],
    db: DbDep,
    settings: SettingsDep,
) -> Response:
    """One job: status, attempts, timings, worker, the full error, payload and result."""
    job = await dashboard_service.get_job(db, job_id)
    silent = _silent_for(job, datetime.now(UTC))
    return render(
        request,
        "job.html",
        title=f"Job {job_id[:8]}",
        job=job,
        silent_seconds=silent,
        stuck=silent > settings.job_orphan_after_seconds,
    )


@router.post("/jobs/retry")
async def retry_jobs(request: Request, form: FormDep, db: DbDep) -> Response:
    """One dead job (``job_id``) or every dead job back to pending, attempts reset."""
    job_id = form.get("job_id") or None
    retried = await dashboard_service.retry_dead_jobs(db, [job_id] if job_id is not None else None)
    if job_id is not None and not retried:
        raise PageError(409, "Not retried", f"Job {job_id} is not dead (or unknown).")
    log.info("console_jobs_retried", count=len(retried))
    return notice_redirect(request, "jobs", "retried", len(retried))


@router.post("/jobs/rescue")
async def rescue_jobs(
    request: Request, form: FormDep, db: DbDep, settings: SettingsDep
) -> Response:
    """Running jobs silent for the threshold go back to pending (exhausted ones: dead); with
    ``job_id``, only that one, and only if silent past the orphan threshold (else 404/409)."""
    job_id = form.get("job_id") or None
    if job_id is not None:
        after = settings.job_orphan_after_seconds
        swept = await dashboard_service.rescue_job(db, job_id, after)
        log.info("console_job_rescued", job_id=job_id, dead=bool(swept.dead))
        return notice_redirect(request, "jobs", "rescued", len(swept.requeued), len(swept.dead))
    minutes = number(form.get("older_than_minutes"), settings.job_orphan_after_seconds / 60)
    swept = await dashboard_service.rescue_jobs(db, minutes * 60)
    log.info("console_jobs_rescued", requeued=swept.requeued, dead=swept.dead, minutes=minutes)
    return notice_redirect(request, "jobs", "rescued", len(swept.requeued), len(swept.dead))


JOBS_PURGE: Final = PurgePage("jobs", "finished job(s)", "completed or dead", "jobs_purged")


@router.post("/jobs/purge")
async def purge_jobs(request: Request, form: FormDep, db: DbDep) -> Response:
    """Finished jobs matching the form: counted and shown first, deleted once confirmed."""

    async def purge(choice: PurgeChoice, dry_run: bool) -> int:
        selector = JobFilter(status=choice.status, tenant_id=choice.tenant_id)
        return await dashboard_service.purge_jobs(
            db, selector, older_than_hours=choice.older_than_hours, dry_run=dry_run
        )

    return await purge_step(request, form, JOBS_PURGE, purge)
