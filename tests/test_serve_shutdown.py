"""Stopping the server stops the embedded PostgreSQL it started: SIGTERM (systemd,
``docker stop``) as well as Ctrl-C, from every entry point, leaving no stale handle."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from devtools.server import clean_env, free_port, running_server, uvicorn_command

pytestmark = pytest.mark.slow


def _serve(port: int) -> list[str]:
    return [sys.executable, "-m", "statewave_server", "serve", "--port", str(port)]


def _start_sh(port: int) -> list[str]:
    return ["./start.sh"]


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.parametrize(
    ("command", "stop_signal"),
    [
        (_serve, signal.SIGTERM),
        (_serve, signal.SIGINT),
        (_start_sh, signal.SIGTERM),
        (uvicorn_command, signal.SIGTERM),
    ],
    ids=["serve-sigterm", "serve-sigint", "start.sh-sigterm", "uvicorn-sigterm"],
)
def test_stopping_the_server_stops_its_embedded_postgres(
    tmp_path: Path,
    server_dir: Path,
    command: Callable[[int], list[str]],
    stop_signal: signal.Signals,
) -> None:
    port = free_port()
    data = server_dir / "data"
    pgdata = data / "pgdata"
    env = clean_env(STATEWAVE_DATA_DIR=str(data), STATEWAVE_PORT=str(port))
    if command is uvicorn_command:  # the runbook's command does not migrate: do it first
        migrate = [sys.executable, "-m", "alembic", "-x", "embedded=1", "upgrade", "head"]
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=300)
    log_path = tmp_path / "server.log"
    with running_server(command(port), env, log_path, port, timeout=240) as server:
        assert httpx.get(f"{server.base_url}/readyz").json()["status"] == "ready"
        postmaster = psutil.Process(_postmaster_pid(pgdata))
        server.process.send_signal(stop_signal)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit after {stop_signal.name}")
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []
    assert not (pgdata / "postmaster.pid").exists()
