"""One test per row of the runbook walk (``reports/runbook-walk.md``) that did not work.

Each is named ``test_row_<n>_…`` after the report's row; run as the operator runs the
commands (real ``alembic``, real ``scripts/preflight.py``, real servers on real PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import REPO_ROOT, PgServer, alembic
from devtools.server import clean_env, free_port, running_server, uvicorn_command, wait_until_up
from statewave_server.worker.errors import job_error_text
from tests.fixtures.runbook import HEAD, RESET_STUCK_JOBS_SQL
from tests.ops import (
    app_client,
    database_at,
    no_server_url,
    preflight_json,
    run_script,
    settings_for,
)

NO_DATABASE = "No database configured"


def _without_url(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``python <args>`` from the repo root with no database URL anywhere."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=clean_env(STATEWAVE_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_row_03_no_database_configured_is_no_go_not_a_throwaway_cluster(tmp_path: Path) -> None:
    data = tmp_path / "data"
    preflight = _without_url(["scripts/preflight.py"], data)
    assert preflight.returncode == 1, preflight.stdout
    assert f"❌ NO-GO: {NO_DATABASE}" in preflight.stdout and "--embedded" in preflight.stdout
    assert "Database:           (none configured" in preflight.stdout
    as_json = json.loads(_without_url(["scripts/preflight.py", "--json"], data).stdout)
    assert as_json["go"] is False and as_json["pending_count"] is None
    upgrade = _without_url(["-m", "alembic", "upgrade", "head"], data)
    assert upgrade.returncode != 0
    assert NO_DATABASE in upgrade.stderr and "Traceback" not in upgrade.stderr
    dry_run = _without_url(["-m", "alembic", "upgrade", "head", "--sql"], data)
    assert dry_run.returncode == 0
    assert "-- No database configured: this SQL starts from an empty database" in dry_run.stdout
    assert not (data / "pgdata").exists()  # nothing was created behind the operator's back


@pytest.mark.slow
def test_row_03_embedded_only_when_asked_and_named(server_dir: Path) -> None:
    data = server_dir / "data"
    upgrade = _without_url(["-m", "alembic", "-x", "embedded=1", "upgrade", "head"], data)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Database: statewave on " in upgrade.stderr and "pgdata" in upgrade.stderr
    current = _without_url(["-m", "statewave_server", "migrate", "--embedded", "current"], data)
    assert current.returncode == 0 and HEAD in current.stdout, current.stderr
    refused = _without_url(["-m", "statewave_server", "migrate", "current"], data)
    assert refused.returncode == 1 and NO_DATABASE in refused.stderr
    preflight = _without_url(["scripts/preflight.py", "--embedded"], data)
    assert preflight.returncode == 0, preflight.stdout
    assert "Database:           statewave on " in preflight.stdout
    assert "✅ Schema is up to date. No migration needed." in preflight.stdout


def test_row_02_05_pgvector_not_creatable_by_the_app_role(pg: PgServer) -> None:
    role = f"app_{pg.database_name(pg.create_database('r'))}"
    pg.psql(f'CREATE ROLE "{role}" LOGIN')
    superuser_url = pg.create_database("novec")
    name = pg.database_name(superuser_url)
    pg.psql(f'ALTER DATABASE "{name}" OWNER TO "{role}"')
    url = make_url(superuser_url).set(username=role).render_as_string(hide_password=False)
    code, report = preflight_json(url)
    assert code == 1 and report["go"] is False
    reason = next(r for r in report["reasons"] if "pgvector" in r)
    assert f"role '{role}' cannot create it" in reason
    assert f"run `CREATE EXTENSION vector;` in database '{name}'" in reason
    upgrade = alembic("upgrade", "head", database_url=url, check=False)
    assert upgrade.returncode != 0
    assert "CREATE EXTENSION vector;" in upgrade.stderr + upgrade.stdout
    assert "Traceback" not in upgrade.stderr + upgrade.stdout
    pg.psql_in(name, "CREATE EXTENSION vector;")  # what the message asks a superuser to do
    alembic("upgrade", "head", database_url=url)
    code, report = preflight_json(url)
    assert code == 0 and report["summary"] == "Schema is up to date"


def test_row_08_dry_run_prints_only_the_pending_revisions(pg: PgServer) -> None:
    url = database_at(pg, "0010_add_session_id")
    dry = alembic("upgrade", "head", "--sql", database_url=url)
    assert "-- Database statewave" not in dry.stdout  # the name is the test database's
    assert "is at 0010_add_session_id: only later revisions follow" in dry.stdout
    assert "CREATE TABLE resolutions" in dry.stdout
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in dry.stdout
    assert "CREATE TABLE episodes" not in dry.stdout
    current = alembic("current", database_url=url)
    assert "0010_add_session_id" in current.stdout  # a dry run changes nothing


def test_row_17_preflight_judges_a_target_app_version(pg: PgServer, head_db_url: str) -> None:
    at_0011 = database_at(pg, "0011_add_resolutions_table")
    done = run_script(["scripts/preflight.py", "--app-version", "0.6.0"], at_0011)
    assert done.returncode == 0, done.stdout
    assert "App version:        0.6.0 (judged for that version" in done.stdout
    assert (
        "✅ GO: Statewave 0.6.0 runs on this schema as it is (no downgrade needed)" in done.stdout
    )
    at_head = run_script(["scripts/preflight.py", "--app-version", "0.6.0"], head_db_url)
    assert "✅ Schema is up to date. No migration needed." in at_head.stdout
    older = run_script(["scripts/preflight.py", "--app-version", "0.5.0"], head_db_url)
    assert older.returncode == 1
    assert "alembic downgrade 0009_add_rate_limit_table" in older.stdout
    unknown = run_script(["scripts/preflight.py", "--app-version", "9.9.9"], head_db_url)
    assert unknown.returncode == 2 and "known: 0.6.1, 0.6.0" in unknown.stderr


def test_row_24_25_pending_count_is_null_when_unknown(tmp_path: Path) -> None:
    nowhere = no_server_url(tmp_path)
    code, report = preflight_json(nowhere)
    assert code == 1 and report["pending_count"] is None
    assert "Pending migrations: (unknown)" in run_script(["scripts/preflight.py"], nowhere).stdout
    upgrade = alembic("upgrade", "head", database_url=nowhere, check=False)
    assert upgrade.returncode != 0 and "Traceback" not in upgrade.stderr
    assert "unreachable" in upgrade.stderr and "statewave on " in upgrade.stderr


async def test_row_25_ops_migrations_reports_null_pending_when_the_database_is_down(
    tmp_path: Path,
) -> None:
    async with app_client(no_server_url(tmp_path)) as client:
        body = (await client.get("/ops/migrations")).json()
        subjects = await client.get("/v1/subjects")
    assert body["error"].startswith("Database unreachable") and body["pending_count"] is None
    assert subjects.json()["error"]["code"] == "database_unavailable"  # not schema_incompatible


async def test_row_14_plain_curl_of_ops_migrations_with_an_api_key(db_url: str) -> None:
    async with app_client(db_url, api_key="k" * 32) as client:
        plain = await client.get("/ops/migrations")
        verbose = await client.get("/ops/migrations", params={"verbose": "true"})
        keyed = await client.get(
            "/ops/migrations", params={"verbose": "true"}, headers={"X-API-Key": "k" * 32}
        )
        data = await client.get("/v1/subjects")
        root = await client.get("/")
    assert plain.status_code == 200 and plain.json()["summary"] == "Schema is up to date"
    assert set(plain.json()) == {
        "current_revision", "expected_head", "is_compatible", "pending_count",
        "pending_revisions", "error", "summary",
    }  # fmt: skip
    assert verbose.status_code == 401 and keyed.status_code == 200 and "history" in keyed.json()
    assert data.status_code == 401
    assert root.status_code == 200
    assert root.json()["console"] == "/console" and root.json()["docs"] == "/docs"


async def test_row_21_job_errors_shown_to_clients_never_contain_sql(head_db_url: str) -> None:
    engine = create_async_engine(head_db_url)
    try:
        async with engine.connect() as conn:
            try:
                await conn.execute(
                    text("SELECT no_such_column FROM episodes WHERE id = :x"), {"x": 1}
                )
            except Exception as exc:  # the real error a handler would raise
                recorded = job_error_text(exc)
    finally:
        await engine.dispose()
    assert "no_such_column" in recorded and "does not exist" in recorded
    assert "[SQL" not in recorded and "SELECT" not in recorded and "parameters" not in recorded


async def test_row_21_legacy_job_error_with_sql_is_not_shown(pg: PgServer, db_url: str) -> None:
    error = (
        "ProgrammingError: (x) column does not exist\n[SQL: SELECT secret FROM t]\n"
        "[parameters: (1,)]"
    )
    pg.psql_in(
        pg.database_name(db_url),
        "INSERT INTO compilation_jobs (id, subject_id, status, error) "
        f"VALUES ('legacy-dead', 'ana', 'dead', $${error}$$)",
    )
    async with app_client(db_url) as client:
        body = (await client.get("/v1/memories/compile/legacy-dead")).json()
    assert body["status"] == "failed"
    assert body["error"] == "ProgrammingError: (x) column does not exist"


@pytest.mark.slow
def test_row_21_old_schema_not_strict_serves_503_and_leaves_in_flight_jobs_alone(
    pg: PgServer, tmp_path: Path
) -> None:
    url = database_at(pg, "0008_add_tenant_id_columns")
    name = pg.database_name(url)
    pg.psql_in(
        name,
        "INSERT INTO compilation_jobs (id, subject_id, status, attempts, claimed_at, claimed_by,"
        " heartbeat_at, started_at) VALUES ('old-job', 'ana', 'running', 1,"
        " now() - interval '31 minutes', 'old-worker', now() - interval '31 minutes',"
        " now() - interval '31 minutes'); "
        "INSERT INTO compilation_jobs (id, subject_id, status) VALUES ('queued', 'ana', 'pending')",
    )
    port = free_port()
    env = clean_env(
        STATEWAVE_DATABASE_URL=url,
        STATEWAVE_EMBEDDING_PROVIDER="hash",
        STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.1",
    )
    with running_server(uvicorn_command(port), env, tmp_path / "server.log", port) as server:
        ready = httpx.get(f"{server.base_url}/readyz")
        subjects = httpx.get(f"{server.base_url}/v1/subjects")
        migrations = httpx.get(f"{server.base_url}/ops/migrations").json()
        # Time for the worker's first sweep and several polls (it sweeps and polls at start).
        asyncio.run(asyncio.sleep(3))
        jobs = pg.psql_in(
            name,
            "SELECT id, status, claimed_by, attempts, coalesce(error, '') "
            "FROM compilation_jobs ORDER BY id",
        )
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    schema = next(c for c in ready.json()["checks"] if c["name"] == "schema")
    assert schema["status"] == "fail" and "4 pending migration(s)" in schema["detail"]
    assert subjects.status_code == 503
    assert subjects.json()["error"]["code"] == "schema_incompatible"
    assert migrations["current_revision"] == "0008_add_tenant_id_columns"
    assert jobs.splitlines() == ["old-job|running|old-worker|1|", "queued|pending||0|"]
    assert "worker_paused_schema_incompatible" in server.logs()


@pytest.mark.slow
def test_row_12_19_start_sh_does_not_undo_a_rollback(pg: PgServer, tmp_path: Path) -> None:
    url = database_at(pg, HEAD)
    alembic("downgrade", "0011", database_url=url)
    port = free_port()
    env = clean_env(
        STATEWAVE_DATABASE_URL=url,
        STATEWAVE_PORT=str(port),
        STATEWAVE_HOST="127.0.0.1",
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
    )
    with running_server(["./start.sh"], env, tmp_path / "start.log", port) as server:
        body = httpx.get(f"{server.base_url}/ops/migrations").json()
    assert body["current_revision"] == "0011_add_resolutions_table"
    assert "migrate_on_start_skipped" in server.logs()
    env["STATEWAVE_MIGRATE_ON_START"] = "1"
    with running_server(["./start.sh"], env, tmp_path / "again.log", port) as server:
        assert httpx.get(f"{server.base_url}/ops/migrations").json()["current_revision"] == HEAD


async def test_row_34_runbook_reset_sql_never_resets_a_live_job(
    pg: PgServer, head_db_url: str
) -> None:
    from statewave_server.worker.runner import Worker
    from tests.fixtures.factories import database_for, make_job, wait_until

    engine = create_async_engine(head_db_url)
    database = database_for(engine)
    release = asyncio.Event()
    runs: list[str] = []

    async def long_job(session, job):  # type: ignore[no-untyped-def]
        runs.append(job.id)
        await release.wait()
        return {"memories_created": 0}

    settings = settings_for(head_db_url, job_poll_interval_seconds=0.05, job_heartbeat_seconds=0.2)
    worker = Worker(database, settings, {"long": long_job})
    async with database.primary() as session, session.begin():
        job = await make_job(session, kind="long")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    name = pg.database_name(head_db_url)
    try:
        await wait_until(lambda: _true(bool(runs)), within=20)
        # As if it had been claimed 31 minutes ago and kept beating ever since.
        pg.psql_in(
            name,
            f"UPDATE compilation_jobs SET claimed_at = now() - interval '31 minutes'"
            f" WHERE id = '{job.id}'",
        )
        await asyncio.sleep(0.6)  # a few heartbeats
        # The runbook's statement, verbatim, matches nothing.
        assert pg.psql_in(name, RESET_STUCK_JOBS_SQL) == "UPDATE 0"
        release.set()
        await wait_until(lambda: _status_is(engine, job.id, "completed"), within=20)
    finally:
        release.set()
        stop.set()
        await task
        await engine.dispose()
    assert runs == [job.id]


async def _true(value: bool) -> bool:
    return value


async def _status_is(engine, job_id: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT status FROM compilation_jobs WHERE id = :id"), {"id": job_id}
        )
    return bool(found == status)


def test_row_39_fresh_database_says_alembic_version_table_not_found(empty_db_url: str) -> None:
    done = run_script(["scripts/preflight.py"], empty_db_url)
    assert "fresh database (alembic_version table not found)" in done.stdout


def test_row_00_first_screen_banner_on_a_terminal(db_url: str) -> None:
    import os
    import pty
    import select
    import signal
    import time

    port = free_port()
    master, slave = pty.openpty()
    env = clean_env(
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "statewave_server", "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=slave,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Stop:" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 4096)
        # Ctrl+C once it serves, as the operator reading the banner would.
        wait_until_up(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        os.close(master)
    screen = seen.decode(errors="replace")
    assert f"Console:  http://127.0.0.1:{port}/console" in screen
    assert f"API:      http://127.0.0.1:{port}" in screen and "/docs" in screen
    assert "Database: " in screen and "Stop:     press Ctrl+C" in screen


def test_row_00_banner_names_the_embedded_data_directory(tmp_path: Path) -> None:
    from statewave_server.cli.banner import banner
    from statewave_server.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    text_ = banner(settings, host="0.0.0.0", port=8100, database_url="postgresql://x@/statewave")
    assert f"embedded PostgreSQL, data in {tmp_path / 'pgdata'}" in text_
    assert "http://127.0.0.1:8100/console" in text_


async def test_row_36_database_ahead_keeps_serving_an_additive_newer_schema(
    pg: PgServer, head_db_url: str
) -> None:
    """A newer release migrated ahead (our tables all there): the old version may drain, so
    its data routes keep working; only strict mode makes it not ready."""
    name = pg.database_name(head_db_url)
    pg.psql_in(name, "UPDATE alembic_version SET version_num = '0013_add_receipts'")
    async with app_client(head_db_url) as client:
        subjects = await client.get("/v1/subjects")
        ready = await client.get("/readyz")
    assert subjects.status_code == 200
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    async with app_client(head_db_url, strict_schema=True) as client:
        strict = await client.get("/readyz")
    assert (strict.status_code, strict.json()["status"]) == (503, "not_ready")


async def test_row_19_one_revision_behind_answers_503_not_500(pg: PgServer) -> None:
    """At 0011 (not strict) the health route used to answer 500 (no subject_health_cache)."""
    async with app_client(database_at(pg, "0011_add_resolutions_table")) as client:
        health = await client.get("/v1/subjects/ana/health")
        ready = await client.get("/readyz")
    assert health.status_code == 503 and health.json()["error"]["code"] == "schema_incompatible"
    assert health.json()["error"]["details"] == {
        "current_revision": "0011_add_resolutions_table",
        "expected_head": HEAD,
    }
    assert ready.status_code == 503


def test_row_07_preflight_tells_orphaned_jobs_from_live_ones(pg: PgServer) -> None:
    url = database_at(pg, "0008_add_tenant_id_columns")
    pg.psql_in(
        pg.database_name(url),
        "INSERT INTO compilation_jobs (id, subject_id, status, claimed_at, heartbeat_at) VALUES "
        "('stuck', 'ana', 'running', now() - interval '31 minutes', now() - interval '31 minutes'),"
        " ('live', 'bo', 'running', now() - interval '31 minutes', now())",
    )
    code, report = preflight_json(url)
    assert code == 0
    [warning] = [w for w in report["warnings"] if "compilation job" in w]
    assert "1 compilation job(s) running would be orphaned" in warning
    assert "1 compilation job(s) already orphaned" in warning


def test_row_40_preflight_names_the_embedding_backfill_after_upgrading_old_data(
    pg: PgServer, head_db_url: str
) -> None:
    """A memory written without a vector (old data, embeddings off) is named by preflight."""
    pg.psql_in(
        pg.database_name(head_db_url),
        "INSERT INTO memories (id, subject_id, kind, content, valid_from) "
        "VALUES (gen_random_uuid(), 'old', 'profile_fact', 'I use Vim', now())",
    )
    _code, report = preflight_json(head_db_url)
    (embeddings,) = [c for c in report["checks"] if c["name"] == "embeddings"]
    assert embeddings["status"] == "warn"
    assert embeddings["detail"].startswith("1 memories")
    assert "statewave embeddings backfill" in embeddings["detail"]
