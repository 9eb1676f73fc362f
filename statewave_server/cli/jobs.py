"""Bodies of ``statewave jobs list``, ``jobs rescue`` and ``jobs retry``.

Exit codes and output as in :mod:`statewave_server.cli.output`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.cli import local, output
from statewave_server.db import jobs
from statewave_server.db.models import CompilationJob
from statewave_server.settings import Settings

_COLUMNS = ("id", "kind", "subject_id", "status", "attempts", "claimed_at", "heartbeat_at")


def _job_dict(job: CompilationJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "subject_id": job.subject_id,
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": output.stamp(job.run_after),
        "claimed_at": output.stamp(job.claimed_at),
        "claimed_by": job.claimed_by,
        "heartbeat_at": output.stamp(job.heartbeat_at),
        "memories_created": job.memories_created,
        "error": job.error,
        "created_at": output.stamp(job.created_at),
        "completed_at": output.stamp(job.completed_at),
    }


def _jobs_table(rows: list[dict[str, Any]]) -> Table:
    return output.rows_table(f"Compilation jobs ({len(rows)})", rows, _COLUMNS, "error")


async def list_jobs_command(
    settings: Settings, status: str | None, limit: int, json_output: bool
) -> int:
    """Print the newest jobs (optionally one status)."""
    if status is not None and status not in jobs.STATUSES:
        Console(stderr=True).print(
            f"[red]Unknown status {status!r}[/red]; choose one of {', '.join(jobs.STATUSES)}"
        )
        return 2

    async def fetch(session: AsyncSession) -> list[dict[str, Any]]:
        page = await jobs.list_jobs(
            session, status=status, subject_id=None, tenant_id=None, kind=None, limit=limit
        )
        return [_job_dict(job) for job in page.jobs]

    try:
        rows = await local.in_transaction(settings, fetch)
    except (SQLAlchemyError, OSError) as exc:
        return output.database_error(exc)
    if json_output:
        output.print_json({"count": len(rows), "jobs": rows})
    else:
        Console().print(_jobs_table(rows))
    return 0


async def rescue_jobs_command(
    settings: Settings, older_than_minutes: float | None, json_output: bool
) -> int:
    """Return running jobs silent for the threshold to ``pending`` (exhausted ones go dead)."""
    if older_than_minutes is not None and older_than_minutes < 0:
        return output.usage_error("--older-than-minutes must be >= 0")
    threshold = (
        older_than_minutes * 60
        if older_than_minutes is not None
        else settings.job_orphan_after_seconds
    )

    async def rescue(session: AsyncSession) -> jobs.RecoveredJobs:
        return await jobs.rescue_orphaned_jobs(session, threshold)

    try:
        swept = await local.in_transaction(settings, rescue)
    except (SQLAlchemyError, OSError) as exc:
        return output.database_error(exc)
    if json_output:
        report = {
            "older_than_seconds": threshold,
            "requeued_count": len(swept.requeued),
            "requeued": swept.requeued,
            "dead": swept.dead,
        }
        output.print_json(report)
        return 0
    console = Console()
    console.print(f"Returned {len(swept.requeued)} job(s) to pending (silent > {threshold:g} s).")
    for job_id in swept.requeued:
        console.print(f"  {job_id}")
    if swept.dead:
        console.print(f"{len(swept.dead)} job(s) had no attempts left and are now dead:")
        for job_id in swept.dead:
            console.print(f"  {job_id}")
    return 0


async def retry_jobs_command(
    settings: Settings, job_ids: list[str], all_dead: bool, json_output: bool
) -> int:
    """Dead jobs back to ``pending`` with fresh attempts: the given ids, or ``--all-dead``.

    Exit 1 when a given id was not retried (unknown, or not dead), so scripts notice.
    """
    if bool(job_ids) == all_dead:
        return output.usage_error("Give --job-id (one or more) or --all-dead, not both.")

    async def retry(session: AsyncSession) -> list[str]:
        return await jobs.retry_dead_jobs(session, None if all_dead else job_ids)

    try:
        retried = await local.in_transaction(settings, retry)
    except (SQLAlchemyError, OSError) as exc:
        return output.database_error(exc)
    missed = [job_id for job_id in job_ids if job_id not in retried]
    if json_output:
        output.print_json({"retried": retried, "not_retried": missed})
    else:
        console = Console()
        console.print(f"Retried {len(retried)} dead job(s): back to pending.")
        for job_id in retried:
            console.print(f"  {job_id}")
    if missed:
        Console(stderr=True).print(f"[red]Not dead or unknown:[/red] {', '.join(missed)}")
        return 1
    return 0
