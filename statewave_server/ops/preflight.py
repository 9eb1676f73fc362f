"""Preflight: may this database be upgraded to this app version right now? (exit 0 go, 1 no-go)

Run as ``python scripts/preflight.py`` or ``statewave preflight``; ``--json`` prints the same
report as one JSON object. Every check is read-only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from statewave_server import __version__
from statewave_server.db.engine import resolve_database_url
from statewave_server.db.urls import redact
from statewave_server.ops.matrix import Chain, current_row, load_chain
from statewave_server.ops.migrations import (
    DB_ERRORS,
    MigrationDetails,
    MigrationStatus,
    connect,
    evaluate,
    failed,
    read_details,
    read_revision,
    unreachable_message,
)
from statewave_server.settings import Settings, get_settings

UP_TO_DATE_LINE = "✅ Schema is up to date. No migration needed."
_RULE = "=" * 60
_ICONS = {"ok": "✅", "warn": "⚠️ ", "fail": "❌"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str


@dataclass
class PreflightReport:
    """Everything preflight found; rendered as text or JSON from the same data."""

    database: str
    status: MigrationStatus
    checks: list[Check]
    commands: dict[str, str] = field(default_factory=dict)

    @property
    def go(self) -> bool:
        return not self.reasons

    @property
    def reasons(self) -> list[str]:
        return [c.detail for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[str]:
        return [c.detail for c in self.checks if c.status == "warn"]

    @property
    def exit_code(self) -> int:
        return 0 if self.go else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "go": self.go,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "app_version": __version__,
            "database": self.database,
            **self.status.model_dump(mode="json"),
            "checks": [vars(c) for c in self.checks],
            "commands": self.commands,
        }


async def build_report(settings: Settings, database_url: str) -> PreflightReport:
    """Inspect the database through one connection, bounded by the connect timeout."""
    chain, row = load_chain(), current_row()
    head = chain.resolve(row.expected_head)
    timeout = settings.db_connect_timeout_seconds
    database = redact(database_url)
    try:
        async with asyncio.timeout(timeout), connect(database_url, timeout) as conn:
            current = await read_revision(conn)
            details = await read_details(conn, current=current, chain=chain, row=row)
            pgvector = await _pgvector_check(conn)
            jobs = await _running_jobs_check(conn, settings)
    except DB_ERRORS as exc:
        error = unreachable_message(exc, timeout)
        checks = [Check("database", "fail", error), _heads_check(chain, head)]
        return PreflightReport(database, failed(error, expected_head=head), checks)
    status = evaluate(current, chain=chain, row=row)
    checks = [
        Check("database", "ok", "reachable"),
        _revision_check(status),
        _heads_check(chain, head),
        pgvector,
        _lock_check(details),
        _drift_check(details),
        jobs,
        *_rollback_checks(status, chain),
    ]
    return PreflightReport(database, status, checks, _commands(status))


def _revision_check(status: MigrationStatus) -> Check:
    if status.error:
        return Check("revision", "fail", status.error)
    if status.current_revision is None:
        return Check("revision", "ok", "fresh database: every migration will be applied")
    return Check("revision", "ok", status.summary)


def _heads_check(chain: Chain, expected_head: str) -> Check:
    """The scripts must form one line ending at the matrix's head for this version."""
    if len(chain.heads) != 1:
        heads = ", ".join(chain.heads) or "none"
        return Check("heads", "fail", f"Migration scripts have {len(chain.heads)} heads ({heads})")
    if chain.heads[0] != expected_head:
        return Check(
            "heads",
            "fail",
            f"Scripts head {chain.heads[0]} is not {expected_head}, the head the "
            f"compatibility matrix expects for Statewave {__version__}",
        )
    return Check("heads", "ok", f"one head ({expected_head})")


async def _pgvector_check(conn: AsyncConnection) -> Check:
    row = (
        await conn.execute(
            text(
                "SELECT default_version, installed_version FROM pg_available_extensions "
                "WHERE name = 'vector'"
            )
        )
    ).first()
    if row is None:
        return Check(
            "pgvector",
            "fail",
            "pgvector is not available on this PostgreSQL server: install it "
            "(e.g. the postgresql-<version>-pgvector package) before migrating",
        )
    if row.installed_version:
        return Check("pgvector", "ok", f"installed ({row.installed_version})")
    return Check("pgvector", "ok", f"available ({row.default_version})")


def _lock_check(details: MigrationDetails) -> Check:
    holder = details.lock_holder
    if holder is None:
        return Check("migration_lock", "ok", "no migration running")
    return Check(
        "migration_lock",
        "fail",
        f"Another migration holds the migration lock (pid {holder.pid}, "
        f"application {holder.application_name or '?'}): wait for it to finish",
    )


def _drift_check(details: MigrationDetails) -> Check:
    if not details.checksum_drift:
        return Check("checksums", "ok", "applied migration files unchanged")
    edited = ", ".join(d.revision for d in details.checksum_drift)
    return Check(
        "checksums",
        "fail",
        f"Applied migration file(s) edited since they were applied: {edited}; restore the "
        "released file(s) (the database was migrated with different code)",
    )


async def _running_jobs_check(conn: AsyncConnection, settings: Settings) -> Check:
    """Jobs running now lose their worker when the old app stops for the upgrade."""
    found = await conn.scalar(text("SELECT to_regclass('compilation_jobs') IS NOT NULL"))
    running = 0
    if found:
        query = "SELECT count(*) FROM compilation_jobs WHERE status = 'running'"
        running = int(await conn.scalar(text(query)) or 0)
    if not running:
        return Check("running_jobs", "ok", "no compilation job running")
    minutes = settings.job_orphan_after_seconds / 60
    return Check(
        "running_jobs",
        "warn",
        f"{running} compilation job(s) running would be orphaned by stopping the old app: let "
        f"them finish, or they return to pending after {minutes:g} minutes "
        "(or run `statewave jobs rescue`)",
    )


def _rollback_checks(status: MigrationStatus, chain: Chain) -> list[Check]:
    lossy = [r for r in status.pending_revisions if chain.info(r).downgrade_loses_data]
    if not lossy:
        return []
    detail = (
        f"Rolling back drops what {', '.join(lossy)} add(s), including data written after "
        "the upgrade: back up first (pg_dump -Fc)"
    )
    return [Check("rollback", "warn", detail)]


def _commands(status: MigrationStatus) -> dict[str, str]:
    """Dry run of exactly the pending delta, the upgrade, and how to undo it."""
    if status.error or not status.pending_revisions:
        return {}
    current = status.current_revision
    return {
        "dry_run": f"alembic upgrade {current}:head --sql"
        if current
        else "alembic upgrade head --sql",
        "upgrade": "alembic upgrade head",
        "rollback": f"alembic downgrade {current or 'base'}",
    }


def render_text(report: PreflightReport) -> str:
    """The human report: state, checks, commands, then one go/no-go verdict."""
    status = report.status
    unknown = status.error is not None and status.current_revision is None
    current = "(unknown)" if unknown else status.current_revision or "(none — fresh DB)"
    lines = [_RULE, "Statewave Migration Preflight Check", _RULE]
    lines += [
        f"App version:        {__version__}",
        f"Database:           {report.database}",
        f"Current revision:   {current}",
        f"Expected head:      {status.expected_head}",
        f"Pending migrations: {'(unknown)' if unknown else status.pending_count}",
        *(f"  → {revision}" for revision in status.pending_revisions),
        "",
        "Checks:",
        *(f"  {_ICONS[c.status]} {c.name}: {c.detail}" for c in report.checks),
    ]
    if report.commands:
        lines += [
            "",
            f"Dry run (SQL only): {report.commands['dry_run']}",
            f"Apply:              {report.commands['upgrade']}",
            f"Rollback:           {report.commands['rollback']}",
        ]
    return "\n".join([*lines, "", *_verdict(report)])


def _verdict(report: PreflightReport) -> list[str]:
    status = report.status
    if not report.go:
        return [
            *(f"❌ NO-GO: {reason}" for reason in report.reasons),
            "Action: fix the above first.",
        ]
    if not status.pending_revisions:
        return [UP_TO_DATE_LINE]
    if status.current_revision is None:
        return [
            "⚠️  Fresh database detected. All migrations will be applied.",
            "✅ GO: run `alembic upgrade head`.",
        ]
    return [
        f"✅ GO: {status.pending_count} migration(s) pending. Back up the database, stop the old "
        "app, run `alembic upgrade head`, re-run this preflight, then start the new app."
    ]


def run_preflight(settings: Settings, *, as_json: bool) -> int:
    """Print the report and return the exit code (0 go, 1 no-go)."""
    url = resolve_database_url(settings)
    report = asyncio.run(build_report(settings, url))
    print(json.dumps(report.to_json(), indent=2) if as_json else render_text(report))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    """``scripts/preflight.py``: the same check, settings from the environment and ``.env``."""
    parser = argparse.ArgumentParser(prog="preflight", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    return run_preflight(get_settings(), as_json=args.json)
