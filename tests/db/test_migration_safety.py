"""Operational safety of ``alembic/env.py``: locking, timeouts, crashes, missing pgvector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from devtools.postgres import REPO_ROOT, PgServer, alembic, run_cli
from statewave_server.db.migration_audit import OUTSIDE_CHAIN_TABLES
from tests.db.support import (
    HEAD,
    audit_rows,
    current_revision,
    dbname,
    lock_holder_pid,
    psql_popen,
    revisions_in_order,
    terminate,
    wait_for,
)
from tests.fixtures.ci import require_real_part
from tests.fixtures.debian_postgres import debian_postgres, find_bin_dir

BEFORE_TENANTS = "0007_add_compilation_jobs"
HOLD_EPISODES_LOCK = "BEGIN; LOCK TABLE episodes IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({})"


def _alembic_popen(url: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env.update({"STATEWAVE_DATABASE_URL": url, **(extra_env or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _hold_episodes_lock(pg: PgServer, url: str, seconds: float) -> int:
    """Lock ``episodes`` from another session for ``seconds``; return that backend's pid."""
    psql_popen(pg, url, HOLD_EPISODES_LOCK.format(seconds))
    wait_for(lambda: lock_holder_pid(pg, url, "episodes") is not None, what="episodes lock")
    pid = lock_holder_pid(pg, url, "episodes")
    assert pid is not None
    return pid


def _migrator_waiting_on_lock(pg: PgServer, url: str) -> bool:
    out = pg.psql_in(
        dbname(pg, url),
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'statewave-migrate' "
        "AND wait_event_type = 'Lock' AND query ILIKE 'ALTER TABLE episodes%'",
    )
    return out != "0"


@pytest.mark.slow
def test_concurrent_upgrades_apply_each_revision_once(pg: PgServer, empty_db_url: str) -> None:
    runs = [_alembic_popen(empty_db_url) for _ in range(2)]
    results = [run.communicate(timeout=120) for run in runs]
    for run, (_, stderr) in zip(runs, results, strict=True):
        assert run.returncode == 0, stderr
    assert current_revision(empty_db_url) == HEAD
    assert audit_rows(pg, empty_db_url) == revisions_in_order()


@pytest.mark.slow
def test_kill_9_mid_migration_leaves_last_completed_revision(
    pg: PgServer, empty_db_url: str
) -> None:
    url = empty_db_url
    alembic("upgrade", "0005_webhook_events", database_url=url)
    holder = _hold_episodes_lock(pg, url, 120)
    migrate = _alembic_popen(url, {"STATEWAVE_MIGRATION_LOCK_TIMEOUT_MS": "120000"})
    try:
        wait_for(lambda: _migrator_waiting_on_lock(pg, url), what="migration blocked in 0008")
        assert audit_rows(pg, url)[-1] == BEFORE_TENANTS
    finally:
        migrate.send_signal(signal.SIGKILL)
        migrate.communicate(timeout=30)
        terminate(pg, url, holder)
    assert current_revision(url) == BEFORE_TENANTS
    alembic("upgrade", "head", database_url=url)
    assert current_revision(url) == HEAD
    assert audit_rows(pg, url) == revisions_in_order()


@pytest.mark.slow
def test_lock_timeout_is_retried_until_the_lock_is_released(
    pg: PgServer, empty_db_url: str
) -> None:
    url = empty_db_url
    alembic("upgrade", BEFORE_TENANTS, database_url=url)
    holder = _hold_episodes_lock(pg, url, 60)
    migrate = _alembic_popen(
        url,
        {"STATEWAVE_MIGRATION_LOCK_TIMEOUT_MS": "200", "STATEWAVE_MIGRATION_LOCK_RETRIES": "8"},
    )
    assert migrate.stderr is not None
    try:
        for line in migrate.stderr:  # release the lock once the first retry is announced
            if "Lock timeout while migrating" in line:
                break
    finally:
        terminate(pg, url, holder)
    _, rest = migrate.communicate(timeout=60)
    assert migrate.returncode == 0, rest
    assert current_revision(url) == HEAD
    assert audit_rows(pg, url).count("0008_add_tenant_id_columns") == 1


@pytest.mark.slow
def test_lock_timeout_gives_up_after_the_last_retry(pg: PgServer, empty_db_url: str) -> None:
    url = empty_db_url
    alembic("upgrade", BEFORE_TENANTS, database_url=url)
    holder = _hold_episodes_lock(pg, url, 60)
    try:
        done = run_cli(
            ["alembic", "upgrade", "head"],
            url,
            extra_env={
                "STATEWAVE_MIGRATION_LOCK_TIMEOUT_MS": "100",
                "STATEWAVE_MIGRATION_LOCK_RETRIES": "1",
            },
        )
    finally:
        terminate(pg, url, holder)
    assert done.returncode != 0
    assert "lock_timeout" in done.stdout
    assert "expired 2 times" in done.stdout
    assert current_revision(url) == BEFORE_TENANTS


@pytest.mark.slow
def test_missing_pgvector_fails_with_the_fix() -> None:
    require_real_part(
        find_bin_dir() is not None, "needs Debian PostgreSQL binaries (/usr/lib/postgresql/*/bin)"
    )
    with debian_postgres() as cluster:
        cluster.psql("CREATE DATABASE novector")
        url = cluster.url("novector")
        done = alembic("upgrade", "head", database_url=url, check=False)
        assert done.returncode != 0
        output = done.stdout + done.stderr
        assert "pgvector is not available" in output
        major = cluster.bin_dir.parent.name
        assert f"postgresql-{major}-pgvector" in output
        assert "alembic upgrade head" in output
        assert "Traceback" not in output
        assert current_revision(url) == ""
        tables_sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        kept = set(cluster.psql(tables_sql, "novector").split())
        assert kept == OUTSIDE_CHAIN_TABLES  # created by the run, outside the chain
