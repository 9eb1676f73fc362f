"""Bodies of ``statewave jobs list`` and ``statewave jobs rescue``.

Each returns the process exit code: 0 success, 1 database failure, 2 bad arguments.
Humans get Rich tables; ``--json`` prints one JSON document on stdout for scripts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import jobs
from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.db.models import CompilationJob
from statewave_server.settings import Settings

T = TypeVar("T")

_COLUMNS = ("id", "kind", "subject_id", "status", "attempts", "claimed_at", "heartbeat_at")


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on a short-lived engine."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    database = Database.from_settings(settings, url)
    try:
        async with database.sessions() as session, session.begin():
            return await work(session)
    finally:
        await database.dispose()


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _job_dict(job: CompilationJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "subject_id": job.subject_id,
        "kind": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": _stamp(job.run_after),
        "claimed_at": _stamp(job.claimed_at),
        "claimed_by": job.claimed_by,
        "heartbeat_at": _stamp(job.heartbeat_at),
        "memories_created": job.memories_created,
        "error": job.error,
        "created_at": _stamp(job.created_at),
        "completed_at": _stamp(job.completed_at),
    }


def _jobs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Compilation jobs ({len(rows)})")
    for column in (*_COLUMNS, "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [str(row[c]) if row[c] is not None else "" for c in _COLUMNS]
        table.add_row(*cells, row["error"] or "")
    return table


def _database_error(exc: Exception) -> int:
    Console(stderr=True).print(f"[red]Database error:[/red] {exc}")
    return 1


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
        return [_job_dict(job) for job in await jobs.list_jobs(session, status, limit)]

    try:
        rows = await _in_transaction(settings, fetch)
    except (SQLAlchemyError, OSError) as exc:
        return _database_error(exc)
    if json_output:
        print(json.dumps({"count": len(rows), "jobs": rows}, indent=2))
    else:
        Console().print(_jobs_table(rows))
    return 0


async def rescue_jobs_command(
    settings: Settings, older_than_minutes: float | None, json_output: bool
) -> int:
    """Return running jobs silent for the threshold to ``pending`` (exhausted ones go dead)."""
    if older_than_minutes is not None and older_than_minutes < 0:
        Console(stderr=True).print("[red]--older-than-minutes must be >= 0[/red]")
        return 2
    threshold = (
        older_than_minutes * 60
        if older_than_minutes is not None
        else settings.job_orphan_after_seconds
    )

    async def rescue(session: AsyncSession) -> jobs.RecoveredJobs:
        return await jobs.rescue_orphaned_jobs(session, threshold)

    try:
        swept = await _in_transaction(settings, rescue)
    except (SQLAlchemyError, OSError) as exc:
        return _database_error(exc)
    if json_output:
        report = {
            "older_than_seconds": threshold,
            "requeued_count": len(swept.requeued),
            "requeued": swept.requeued,
            "dead": swept.dead,
        }
        print(json.dumps(report, indent=2))
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
