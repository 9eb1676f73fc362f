"""``statewave jobs list|show|retry|rescue|purge``: durable compilation jobs.

On the configured database, or through a server's ``/admin/jobs`` with ``--url``; both
print the API's shapes, so ``--json`` output is the same either way. Ids may be given as
any unique prefix (tables show 8 characters).
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

import typer

from statewave_server.api.schemas.admin import JobDetail, JobItem
from statewave_server.cli import ids, local, output, purge, remote
from statewave_server.cli.output import Json
from statewave_server.services.admin import dashboard
from statewave_server.settings import get_settings

jobs_app = typer.Typer(help="Inspect and repair durable compilation jobs.", no_args_is_help=True)

# Shorter hex is a prefix; anything else is taken as a whole id (ours are 32 hex digits,
# but a database taken over from the original Statewave may hold others).
_PREFIX = re.compile(r"^[0-9a-f]{1,31}$")
_COLUMNS = (
    ("id", "job_id"),
    ("kind", "kind"),
    ("subject", "subject_id"),
    ("status", "status"),
    ("tries", "attempts"),
    ("created", "created_at"),
    ("heartbeat", "heartbeat_at"),
)


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    DEAD = "dead"
    FAILED = "failed"  # the API's name for "dead" (GET /v1/jobs/{id})


class FinishedStatus(enum.StrEnum):
    COMPLETED = "completed"
    DEAD = "dead"
    FAILED = "failed"


def _stored(status: enum.StrEnum | None) -> str | None:
    """The status as the jobs table stores it: the API's ``failed`` is ``dead``."""
    if status is None:
        return None
    return "dead" if status.value == "failed" else status.value


def _list(filters: dict[str, str | None], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Newest jobs first matching ``filters`` (the API's query names), and their total."""
    server = remote.current()
    if server is not None:
        return server.page("/admin/jobs", "jobs", filters, limit)
    selector = dashboard.JobFilter(**filters)
    page = local.run(lambda s: dashboard.list_jobs(s, selector, limit=limit, offset=0))
    return [JobItem.model_validate(job).model_dump(mode="json") for job in page.jobs], page.total


def resolve(raw: str) -> str:
    """A whole job id from an id or a unique prefix (exit 1 when unknown or ambiguous)."""

    def matches(prefix: str) -> list[str]:
        rows, _ = _list({"id_prefix": prefix}, 2)
        return [row["job_id"] for row in rows]

    return ids.resolve(raw, "job", lambda value: not _PREFIX.match(value.lower()), matches)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        JobStatus | None, typer.Option(help="Only jobs in this status ('failed' = dead).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    tenant: output.TenantFilter = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
    json_output: Json = False,
) -> None:
    """List compilation jobs, newest first."""
    filters = {
        "status": _stored(status),
        "kind": kind,
        "tenant_id": tenant,
        "subject_id": subject,
    }
    rows, total = _list(filters, limit)
    if json_output:
        output.print_json({"count": len(rows), "total": total, "jobs": rows})
        return
    title = f"Compilation jobs ({len(rows)} of {total})"
    output.show(output.rows_table(title, rows, _COLUMNS, "error"))


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="A job id or a unique prefix of one.")],
    json_output: Json = False,
) -> None:
    """One job: status, attempts, timings, error, payload and result."""
    full = resolve(job_id)

    def read_locally() -> dict[str, Any]:
        found = local.run(lambda s: dashboard.get_job(s, full))
        return JobDetail.model_validate(found).model_dump(mode="json")

    job = remote.read(f"/admin/jobs/{full}", read_locally)
    output.show_record(f"Job {job['job_id']}", job, ("payload", "result"), json_output=json_output)


@jobs_app.command("rescue")
def jobs_rescue(
    job_id: Annotated[
        str | None,
        typer.Argument(help="Only this job (or a unique prefix): it must be silent-running."),
    ] = None,
    older_than_minutes: Annotated[
        float | None,
        typer.Option(
            min=0, help="Rescue running jobs silent for this long (default: orphan timeout)."
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Return orphaned running jobs to pending so a worker completes them (with ID: only that
    job, and only if silent past the orphan timeout; exit 1 otherwise)."""
    if job_id is not None and older_than_minutes is not None:
        output.usage_error("Give a job id or --older-than-minutes, not both.")
    report = _rescue_one(resolve(job_id)) if job_id is not None else _rescue(older_than_minutes)
    if json_output:
        output.print_json({**report, "requeued_count": len(report["requeued"])})
        return
    typer.echo(
        f"Returned {len(report['requeued'])} job(s) to pending "
        f"(silent > {report['older_than_seconds']:g} s)."
    )
    output.echo_ids(report["requeued"])
    if report["dead"]:
        typer.echo(f"{len(report['dead'])} job(s) had no attempts left and are now dead:")
        output.echo_ids(report["dead"])


def _rescue(older_than_minutes: float | None) -> dict[str, Any]:
    """Every running job silent for the threshold (the API's ``RescueJobsResponse``)."""
    seconds = older_than_minutes * 60 if older_than_minutes is not None else None
    server = remote.current()
    if server is not None:
        report: dict[str, Any] = server.call(
            "POST", "/admin/jobs/rescue", body={"older_than_seconds": seconds}
        )
        return report
    threshold = seconds if seconds is not None else get_settings().job_orphan_after_seconds
    return _swept(threshold, local.run(lambda s: dashboard.rescue_jobs(s, threshold)))


def _rescue_one(job_id: str) -> dict[str, Any]:
    """One silent running job (unknown: exit 1, 404; not silent-running: exit 1, 409)."""
    server = remote.current()
    if server is not None:
        report: dict[str, Any] = server.call("POST", f"/admin/jobs/{job_id}/rescue")
        return report
    threshold = get_settings().job_orphan_after_seconds
    return _swept(threshold, local.run(lambda s: dashboard.rescue_job(s, job_id, threshold)))


def _swept(threshold: float, swept: dashboard.Rescued) -> dict[str, Any]:
    """A local rescue's outcome in the API's ``RescueJobsResponse`` shape."""
    return {"older_than_seconds": threshold, "requeued": swept.requeued, "dead": swept.dead}


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[
        list[str] | None,
        typer.Option("--job-id", help="A dead job to retry, or a unique prefix (repeatable)."),
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Retry every dead job.")] = False,
    json_output: Json = False,
) -> None:
    """Return dead jobs to pending with fresh attempts (exit 1 if a given id is not dead)."""
    if bool(job_id) == all_dead:
        output.usage_error("Give --job-id (one or more) or --all-dead, not both.")
    wanted = None if all_dead else [resolve(raw) for raw in job_id or []]
    server = remote.current()
    if server is not None:
        body = {"all_dead": True} if wanted is None else {"job_ids": wanted}
        retried = server.call("POST", "/admin/jobs/retry", body=body)["retried"]
    else:
        retried = local.run(lambda s: dashboard.retry_dead_jobs(s, wanted))
    missed = [value for value in wanted or [] if value not in retried]
    if json_output:
        output.print_json({"retried": retried, "not_retried": missed})
    else:
        typer.echo(f"Retried {len(retried)} dead job(s): back to pending.")
        output.echo_ids(retried)
    if missed:
        remote.fail(f"not dead or unknown: {', '.join(missed)}")


@jobs_app.command("purge")
def jobs_purge(
    status: Annotated[
        FinishedStatus | None,
        typer.Option(help="Only this status (default: both; 'failed' = dead)."),
    ] = None,
    tenant: output.TenantFilter = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    older_than_hours: purge.OlderThanHours = None,
    yes: purge.Yes = False,
    dry_run: purge.DryRun = False,
    json_output: Json = False,
) -> None:
    """Delete finished (completed/dead) jobs matching at least one filter: prints "would
    delete N" and asks; scripts pass --yes (without it, --json or no terminal exits 2)."""
    filters: dict[str, Any] = {
        "status": _stored(status),
        "tenant_id": tenant,
        "subject_id": subject,
        "kind": kind,
        "older_than_hours": older_than_hours,
    }
    selector = dashboard.JobFilter(
        status=filters["status"], subject_id=subject, tenant_id=tenant, kind=kind
    )

    def purge_locally(only_count: bool) -> int:
        return local.run(
            lambda s: dashboard.purge_jobs(
                s, selector, older_than_hours=older_than_hours, dry_run=only_count
            )
        )

    purge.run(
        "/admin/jobs",
        "finished job(s)",
        "completed or dead",
        filters,
        purge_locally,
        yes=yes,
        dry_run=dry_run,
        json_output=json_output,
    )
