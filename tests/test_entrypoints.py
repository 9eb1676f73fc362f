"""The README's and runbook's entry points, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import (
    clean_env,
    free_port,
    running_server,
    uvicorn_command,
    wait_until_up,
)
from tests.fixtures.runbook import MIGRATIONS_EXAMPLE

pytestmark = pytest.mark.slow


def _json_lines(text: str) -> list[dict[str, object]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_runbook_uvicorn_command_serves_and_logs_info_as_json(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(STATEWAVE_DATABASE_URL=db_url, STATEWAVE_RUN_WORKER_IN_PROCESS="false")
    with running_server(uvicorn_command(port), env, tmp_path / "server.log", port) as server:
        migrations = httpx.get(f"{server.base_url}/ops/migrations").json()
        assert migrations == MIGRATIONS_EXAMPLE
        ready = httpx.get(f"{server.base_url}/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
    events = _json_lines(server.logs())
    names = {(e.get("event"), e.get("level")) for e in events}
    assert ("app_startup", "info") in names
    assert ("request_started", "info") in names
    finished = [e for e in events if e.get("event") == "request_finished"]
    assert any(e.get("path") == "/ops/migrations" and e.get("status") == 200 for e in finished)
    assert all("request_id" in e for e in finished)


def test_statewave_serve_runs_on_the_embedded_database(tmp_path: Path, server_dir: Path) -> None:
    """README's run command with no database URL: embedded PostgreSQL, migrated, ready."""
    port = free_port()
    env = clean_env(STATEWAVE_DATA_DIR=str(server_dir / "data"))
    command = [
        sys.executable,
        "-m",
        "statewave_server",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    for run in ("first", "second"):  # the second start reuses the persistent data directory
        with running_server(command, env, tmp_path / f"{run}.log", port) as server:
            assert httpx.get(f"{server.base_url}/readyz").json()["status"] == "ready"
            migrations = httpx.get(f"{server.base_url}/ops/migrations").json()
            assert migrations == MIGRATIONS_EXAMPLE
    assert (server_dir / "data" / "pgdata" / "PG_VERSION").exists()


def test_start_sh_migrates_then_serves(empty_db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        STATEWAVE_DATABASE_URL=empty_db_url,
        STATEWAVE_MIGRATE_ON_START="1",
        STATEWAVE_PORT=str(port),
        STATEWAVE_HOST="127.0.0.1",
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
    )
    with running_server(["./start.sh"], env, tmp_path / "start.log", port) as server:
        assert httpx.get(f"{server.base_url}/ops/migrations").json() == MIGRATIONS_EXAMPLE


def _start_and_wait_for_exit(env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    done = subprocess.run(
        uvicorn_command(free_port()),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout + done.stderr


def test_strict_mode_refuses_a_stale_schema_with_one_clear_line(empty_db_url: str) -> None:
    env = clean_env(STATEWAVE_DATABASE_URL=empty_db_url, STATEWAVE_STRICT_SCHEMA="1")
    code, output = _start_and_wait_for_exit(env)
    assert code != 0
    assert "Traceback" not in output
    refusals = [line for line in output.splitlines() if "schema_guard_refused" in line]
    assert len(refusals) == 1
    assert "alembic upgrade head" in refusals[0]


def test_strict_mode_refuses_an_unreachable_database(tmp_path: Path) -> None:
    dead = f"postgresql+asyncpg://postgres@/statewave?host={tmp_path}"
    env = clean_env(STATEWAVE_DATABASE_URL=dead, STATEWAVE_STRICT_SCHEMA="true")
    code, output = _start_and_wait_for_exit(env)
    assert code != 0
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if "schema_guard_refused" in line]) == 1


def test_mismatch_without_strict_mode_warns_and_starts(empty_db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(STATEWAVE_DATABASE_URL=empty_db_url, STATEWAVE_RUN_WORKER_IN_PROCESS="false")
    with running_server(uvicorn_command(port), env, tmp_path / "warn.log", port) as server:
        assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    warnings = [e for e in _json_lines(server.logs()) if e.get("event") == "schema_mismatch"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"


def test_every_entry_point_reads_dot_env(db_url: str, tmp_path: Path) -> None:
    """A URL given only in ``.env`` (here via the ``DATABASE_URL`` fallback) is seen by
    alembic, preflight and the server alike."""
    (tmp_path / ".env").write_text(f"DATABASE_URL={db_url}\n")
    env = clean_env()
    current = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "alembic.ini"), "current"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "0012_add_health_cache" in current.stdout
    preflight = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "preflight.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert preflight.returncode == 0
    assert "✅ Schema is up to date. No migration needed." in preflight.stdout
    port = free_port()
    command = [*uvicorn_command(port), "--app-dir", str(REPO_ROOT)]
    log_path = tmp_path / "env.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        migrations = httpx.get(f"http://127.0.0.1:{port}/ops/migrations").json()
        assert migrations == MIGRATIONS_EXAMPLE
    finally:
        process.terminate()
        process.wait(timeout=20)
