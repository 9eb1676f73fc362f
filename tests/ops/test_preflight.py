"""``python scripts/preflight.py`` against real databases, run as the operator runs it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import PgServer, alembic, run_cli
from statewave_server.db.migration_audit import MIGRATION_LOCK_KEY
from tests.fixtures.ci import require_real_part
from tests.fixtures.runbook import HEAD, STATUS_KEYS
from tests.ops import database_at, no_server_url, preflight_json, run_script

UP_TO_DATE_LINE = "✅ Schema is up to date. No migration needed."


def _preflight(url: str) -> tuple[int, str]:
    done = run_script(["scripts/preflight.py"], url)
    return done.returncode, done.stdout


def test_at_head_prints_the_runbook_line_and_goes(head_db_url: str) -> None:
    code, out = _preflight(head_db_url)
    assert code == 0, out
    assert UP_TO_DATE_LINE in out.splitlines()
    assert f"Current revision:   {HEAD}" in out and "Pending migrations: 0" in out


def test_json_report_matches_the_cli_command(head_db_url: str) -> None:
    code, report = preflight_json(head_db_url)
    assert code == 0 and report["go"] is True and report["exit_code"] == 0
    assert [k for k in report if k in STATUS_KEYS] == STATUS_KEYS
    assert report["summary"] == "Schema is up to date" and report["commands"] == {}
    names = {c["name"] for c in report["checks"]}
    assert {"database", "pgvector", "migration_lock", "heads", "checksums"} <= names
    via_cli = run_cli(["statewave_server", "preflight", "--json"], head_db_url)
    assert via_cli.returncode == 0
    assert json.loads(via_cli.stdout) == report


def test_fresh_database_goes_with_a_full_dry_run(empty_db_url: str) -> None:
    code, out = _preflight(empty_db_url)
    assert code == 0, out
    assert "Current revision:   (none — fresh DB)" in out
    assert "Pending migrations: 12" in out and "  → 0001_initial_schema" in out
    assert "Dry run (SQL only): alembic upgrade head --sql" in out
    assert UP_TO_DATE_LINE not in out
    _, report = preflight_json(empty_db_url)
    assert report["current_revision"] is None and report["pending_count"] == 12
    assert report["commands"]["rollback"] == "alembic downgrade base"


def test_behind_prints_the_delta_dry_run_that_really_prints_sql(pg: PgServer) -> None:
    url = database_at(pg, "0010_add_session_id")
    code, out = _preflight(url)
    assert code == 0, out
    assert "  → 0011_add_resolutions_table\n  → 0012_add_health_cache" in out
    assert "alembic upgrade 0010_add_session_id:head --sql" in out
    assert "Rollback:           alembic downgrade 0010_add_session_id" in out
    assert "✅ GO: 2 migration(s) pending" in out
    _, report = preflight_json(url)
    assert report["pending_revisions"] == ["0011_add_resolutions_table", HEAD]
    assert report["is_compatible"] is False and report["go"] is True
    dry = alembic("upgrade", "0010_add_session_id:head", "--sql", database_url=url)
    assert "CREATE TABLE resolutions" in dry.stdout
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in dry.stdout
    assert "CREATE TABLE episodes" not in dry.stdout  # only the pending delta


def test_unknown_revision_is_no_go(pg: PgServer, head_db_url: str) -> None:
    pg.psql_in(
        pg.database_name(head_db_url),
        "UPDATE alembic_version SET version_num = '0099_from_the_future'",
    )
    code, out = _preflight(head_db_url)
    assert code == 1, out
    assert "❌ NO-GO: Database revision '0099_from_the_future' is unknown" in out
    code, report = preflight_json(head_db_url)
    assert code == 1 and report["go"] is False and report["exit_code"] == 1
    assert report["error"] and "0099_from_the_future" in report["reasons"][0]


def test_unreachable_database_is_a_fast_no_go(tmp_path: Path) -> None:
    started = time.monotonic()
    code, out = _preflight(no_server_url(tmp_path))
    assert time.monotonic() - started < 15
    assert code == 1
    assert "❌ NO-GO: Database unreachable" in out
    _, report = preflight_json(no_server_url(tmp_path))
    assert report["error"].startswith("Database unreachable") and report["go"] is False


def test_edited_applied_migration_is_no_go(pg: PgServer, head_db_url: str) -> None:
    pg.psql_in(
        pg.database_name(head_db_url),
        "UPDATE statewave_migration_audit SET checksum = repeat('f', 64) "
        "WHERE revision = '0005_webhook_events' AND direction = 'upgrade'",
    )
    code, out = _preflight(head_db_url)
    assert code == 1, out
    assert "edited since they were applied: 0005_webhook_events" in out
    assert UP_TO_DATE_LINE not in out


def test_running_jobs_warn_but_go(pg: PgServer, head_db_url: str) -> None:
    pg.psql_in(
        pg.database_name(head_db_url),
        "INSERT INTO compilation_jobs (id, subject_id, status, claimed_at) "
        "VALUES ('job-1', 'user-1', 'running', now())",
    )
    code, report = preflight_json(head_db_url)
    assert code == 0 and report["go"] is True
    assert any("1 compilation job(s) running" in w for w in report["warnings"])


async def test_migration_in_progress_is_no_go(head_db_url: str) -> None:
    engine = create_async_engine(head_db_url)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            code, report = preflight_json(head_db_url)
    finally:
        await engine.dispose()
    assert code == 1
    assert any("Another migration holds the migration lock" in r for r in report["reasons"])


@pytest.mark.slow
def test_server_without_pgvector_is_no_go() -> None:
    from tests.fixtures.debian_postgres import debian_postgres, find_bin_dir

    require_real_part(
        find_bin_dir() is not None, "no Debian PostgreSQL (without pgvector) on this machine"
    )
    with debian_postgres() as cluster:
        cluster.psql("CREATE DATABASE statewave")
        code, report = preflight_json(cluster.url("statewave"))
    assert code == 1 and report["go"] is False
    assert report["current_revision"] is None and report["pending_count"] == 12
    assert any(r.startswith("pgvector is not available") for r in report["reasons"])


def test_a_read_replica_that_is_not_a_standby_warns_but_goes(head_db_url: str) -> None:
    """The primary itself as the read URL: reachable, not replaying (a real standby is
    checked by ``tests/reliability/test_read_replica.py``'s deployment)."""
    read_url = {"STATEWAVE_READ_DATABASE_URL": head_db_url}
    done = run_cli(["statewave_server", "preflight", "--json"], head_db_url, extra_env=read_url)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["go"] is True
    replica = next(c for c in report["checks"] if c["name"] == "read_replica")
    assert replica["status"] == "warn" and "not a standby" in replica["detail"]
