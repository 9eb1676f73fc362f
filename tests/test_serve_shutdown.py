"""``statewave serve`` on the embedded database: SIGTERM (systemd, ``docker stop``) stops
the PostgreSQL it started, as Ctrl-C does, and leaves no stale handle behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.server import clean_env, free_port, running_server

pytestmark = pytest.mark.slow


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stopping_serve_stops_its_embedded_postgres(
    tmp_path: Path, server_dir: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    pgdata = server_dir / "data" / "pgdata"
    env = clean_env(STATEWAVE_DATA_DIR=str(server_dir / "data"))
    command = [sys.executable, "-m", "statewave_server", "serve", "--port", str(port)]
    with running_server(command, env, tmp_path / "serve.log", port) as server:
        assert httpx.get(f"{server.base_url}/readyz").json()["status"] == "ready"
        postmaster = psutil.Process(_postmaster_pid(pgdata))
        server.process.send_signal(stop_signal)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit after {stop_signal.name}")
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == []
    assert not (pgdata / "postmaster.pid").exists()
