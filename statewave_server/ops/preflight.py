"""Preflight: may this database be upgraded to this app version right now? (exit 0 go, 1 no-go)

Run as ``python scripts/preflight.py`` or ``statewave preflight``; ``--json`` prints the same
report as one JSON object. Every check is read-only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from statewave_server import __version__
from statewave_server.db.engine import resolve_database_url
from statewave_server.db.extensions import PGVECTOR_SQL, pgvector_state
from statewave_server.db.urls import describe as describe_url
from statewave_server.ops.adoption import count_awaiting_embedding, embedding_note
from statewave_server.ops.matrix import (
    COMPATIBILITY_MATRIX,
    Chain,
    current_row,
    load_chain,
    row_for,
)
from statewave_server.ops.migrations import (
    DB_ERRORS,
    MigrationDetails,
    MigrationStatus,
    connect,
    describe_error,
    failed,
    read_details,
    read_status,
    unreachable_message,
)
from statewave_server.settings import Settings, get_settings

UP_TO_DATE_LINE = "✅ Schema is up to date. No migration needed."
_RULE = "=" * 60
#: Each check's mark in the text report, by status.
ICONS = {"ok": "✅", "warn": "⚠️ ", "fail": "❌"}


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
    app_version: str = __version__

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
            "app_version": self.app_version,
            "database": self.database,
            **self.status.model_dump(mode="json"),
            "checks": [vars(c) for c in self.checks],
            "commands": self.commands,
        }


NO_DATABASE = (
    "No database configured: set STATEWAVE_DATABASE_URL (or DATABASE_URL, or put it in a "
    ".env file in the working directory), or pass --embedded to check the embedded database"
)


def no_database_report(settings: Settings) -> PreflightReport:
    """NO-GO without touching anything: an unset URL must not mean a throwaway database."""
    head = load_chain().resolve(current_row().expected_head)
    where = f"(none configured; the embedded database would be in {settings.data_dir})"
    return PreflightReport(
        where, failed(NO_DATABASE, expected_head=head), [Check("database", "fail", NO_DATABASE)]
    )


async def build_report(
    settings: Settings, database_url: str, *, app_version: str = __version__
) -> PreflightReport:
    """Inspect the database through one connection, bounded by the connect timeout, for the
    window of ``app_version`` (another version's row answers "may it run here?")."""
    chain, row = load_chain(), row_for(app_version)
    head = chain.resolve(row.expected_head)
    timeout = settings.db_connect_timeout_seconds
    database = describe_url(database_url)
    try:
        async with asyncio.timeout(timeout), connect(database_url, timeout) as conn:
            status = await read_status(conn, chain=chain, row=row)
            current = status.current_revision
            details = await read_details(conn, current=current, chain=chain, row=row)
            pgvector = await _pgvector_check(conn)
            jobs = await _running_jobs_check(conn, settings)
            embeddings = _embeddings_check(await count_awaiting_embedding(conn))
    except DB_ERRORS as exc:
        error = unreachable_message(exc, timeout)
        checks = [Check("database", "fail", error), _heads_check(chain)]
        return PreflightReport(database, failed(error, expected_head=head), checks)
    replica = await _replica_check(settings)
    checks = [
        Check("database", "ok", "reachable"),
        _revision_check(status),
        _heads_check(chain),
        pgvector,
        _lock_check(details),
        _drift_check(details),
        jobs,
        embeddings,
        *_rollback_checks(status, chain),
        *([replica] if replica is not None else []),
    ]
    return PreflightReport(database, status, checks, _commands(status, chain), app_version)


async def _replica_check(settings: Settings) -> Check | None:
    """``STATEWAVE_READ_DATABASE_URL``, when set: a replica that cannot be reached or is
    not replaying WAL costs the primary its reads, not the clients an answer (a warning)."""
    if not settings.read_database_url:
        return None
    url, timeout = settings.read_database_url, settings.db_connect_timeout_seconds
    where = describe_url(url)
    try:
        async with asyncio.timeout(timeout), connect(url, timeout) as conn:
            standby = (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar()
    except DB_ERRORS as exc:
        detail = f"read replica {where} unreachable ({describe_error(exc, timeout)})"
        return Check("read_replica", "warn", f"{detail}: reads will go to the primary")
    if not standby:
        detail = f"read replica {where} is not a standby (not replaying WAL)"
        return Check("read_replica", "warn", f"{detail}: reads will go to the primary")
    return Check("read_replica", "ok", f"read replica {where}: a streaming standby")


def _revision_check(status: MigrationStatus) -> Check:
    if status.error:
        return Check("revision", "fail", status.error)
    if status.current_revision is None:
        return Check(
            "revision",
            "ok",
            "fresh database (alembic_version table not found): every migration will be applied",
        )
    return Check("revision", "ok", status.summary)


def _heads_check(chain: Chain) -> Check:
    """The scripts must form one line ending at the matrix's head for this code's version."""
    expected_head = chain.resolve(current_row().expected_head)
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
    state = pgvector_state((await conn.execute(PGVECTOR_SQL)).first())
    if state is None:
        return Check(
            "pgvector",
            "fail",
            "pgvector is not available on this PostgreSQL server: install it "
            "(e.g. the postgresql-<version>-pgvector package) before migrating",
        )
    if state.installed_version:
        return Check("pgvector", "ok", f"installed ({state.installed_version})")
    if not state.creatable:
        return Check("pgvector", "fail", state.not_creatable_message())
    return Check("pgvector", "ok", f"available ({state.default_version}), role may create it")


def _embeddings_check(awaiting: int) -> Check:
    """Adopted memories keep the original's vectors apart until the backfill re-embeds them."""
    note = embedding_note(awaiting)
    if note is None:
        return Check("embeddings", "ok", "no memory awaits `statewave embeddings backfill`")
    return Check("embeddings", "warn", note)


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
    """Jobs running now lose their worker when the old app stops for the upgrade; those
    silent past the orphan threshold have lost it already."""
    found = await conn.scalar(text("SELECT to_regclass('compilation_jobs') IS NOT NULL"))
    running = orphaned = 0
    if found:
        counts = (
            await conn.execute(
                text(
                    "SELECT count(*) AS running, count(*) FILTER (WHERE coalesce(heartbeat_at, "
                    "claimed_at, started_at) < now() - make_interval(secs => :after)) AS orphaned "
                    "FROM compilation_jobs WHERE status = 'running'"
                ),
                {"after": settings.job_orphan_after_seconds},
            )
        ).one()
        running, orphaned = int(counts.running), int(counts.orphaned)
    if not running:
        return Check("running_jobs", "ok", "no compilation job running")
    minutes = settings.job_orphan_after_seconds / 60
    parts = []
    if running - orphaned:
        parts.append(
            f"{running - orphaned} compilation job(s) running would be orphaned by stopping "
            "the old app: let them finish"
        )
    if orphaned:
        parts.append(
            f"{orphaned} compilation job(s) already orphaned (no heartbeat for over "
            f"{minutes:g} minutes): a worker of the new version returns them to pending"
        )
    detail = "; ".join(parts) + " (or run `statewave jobs rescue`)"
    return Check("running_jobs", "warn", detail)


def _rollback_checks(status: MigrationStatus, chain: Chain) -> list[Check]:
    lossy = [r for r in status.pending_revisions if chain.info(r).downgrade_loses_data]
    if not lossy:
        return []
    detail = (
        f"Rolling back drops what {', '.join(lossy)} add(s), including data written after "
        "the upgrade: back up first (`statewave backup`)"
    )
    return [Check("rollback", "warn", detail)]


def _commands(status: MigrationStatus, chain: Chain) -> dict[str, str]:
    """Dry run of exactly the pending delta, the upgrade, and how to undo it."""
    if status.error or not status.pending_revisions:
        return {}
    current = status.current_revision
    target = status.pending_revisions[-1]
    to = "head" if target == chain.ids[-1] else target
    return {
        "dry_run": f"alembic upgrade {current}:{to} --sql"
        if current
        else f"alembic upgrade {to} --sql",
        "upgrade": f"alembic upgrade {to}",
        "rollback": f"alembic downgrade {current or 'base'}",
    }


def render_text(report: PreflightReport) -> str:
    """The human report: state, checks, commands, then one go/no-go verdict."""
    status = report.status
    unknown = status.error is not None and status.current_revision is None
    current = "(unknown)" if unknown else status.current_revision or "(none — fresh DB)"
    pending = "(unknown)" if status.pending_count is None else status.pending_count
    version = __version__
    if report.app_version != __version__:
        version = f"{report.app_version} (judged for that version; this code is {__version__})"
    lines = [_RULE, "Statewave Migration Preflight Check", _RULE]
    lines += [
        f"App version:        {version}",
        f"Database:           {report.database}",
        f"Current revision:   {current}",
        f"Expected head:      {status.expected_head}",
        f"Pending migrations: {pending}",
        *(f"  → {revision}" for revision in status.pending_revisions),
        "",
        "Checks:",
        *(f"  {ICONS[c.status]} {c.name}: {c.detail}" for c in report.checks),
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
    upgrade = report.commands["upgrade"]
    if status.is_compatible:
        return [
            f"✅ GO: Statewave {report.app_version} runs on this schema as it is (no downgrade "
            f"needed); {status.pending_count} of its migration(s) are not applied yet: "
            f"`{upgrade}` when you are ready."
        ]
    if status.current_revision is None:
        return [
            "⚠️  Fresh database detected. All migrations will be applied.",
            f"✅ GO: run `{upgrade}`.",
        ]
    return [
        f"✅ GO: {status.pending_count} migration(s) pending. Back up the database (`statewave "
        f"backup`), stop the old app, run `{upgrade}`, re-run this preflight, then start the "
        "new app."
    ]


def run_preflight(
    settings: Settings,
    *,
    as_json: bool,
    embedded: bool = False,
    app_version: str = __version__,
    show_text: Callable[[PreflightReport], None] | None = None,
) -> int:
    """Print the report (the text one through ``show_text``: the CLI colours it) and return
    the exit code (0 go, 1 no-go, 2 unknown app version).

    Without a configured URL only ``embedded`` checks the embedded database: an operator
    who forgot the URL must not get a GO about a database nobody uses.
    """
    try:
        row_for(app_version)
    except LookupError as exc:
        known = ", ".join(r.app_version for r in COMPATIBILITY_MATRIX)
        print(f"preflight: {exc} (known: {known})", file=sys.stderr)
        return 2
    if settings.database_url is None and not embedded:
        report = no_database_report(settings)
    else:
        url = resolve_database_url(settings)
        report = asyncio.run(build_report(settings, url, app_version=app_version))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        (show_text or _print_text)(report)
    return report.exit_code


def _print_text(report: PreflightReport) -> None:
    print(render_text(report))


def main(argv: list[str] | None = None) -> int:
    """``scripts/preflight.py``: the same check, settings from the environment and ``.env``."""
    parser = argparse.ArgumentParser(prog="preflight", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="with no database URL configured, check the embedded database",
    )
    parser.add_argument(
        "--app-version",
        default=__version__,
        help="judge the database for this app version of the compatibility matrix "
        f"(default {__version__}; e.g. the version you are rolling back to)",
    )
    args = parser.parse_args(argv)
    return run_preflight(
        get_settings(), as_json=args.json, embedded=args.embedded, app_version=args.app_version
    )
