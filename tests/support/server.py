"""Run the real server as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.postgres import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process environment without any Statewave configuration, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[str]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()


def wait_until_up(base_url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up in time")


@contextmanager
def running_server(
    command: list[str], env: dict[str, str], log_path: Path, port: int
) -> Iterator[RunningServer]:
    """Start ``command`` (which must listen on ``port``), wait for /healthz, stop it after."""
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process)
        yield RunningServer(base_url, process, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def uvicorn_command(port: int) -> list[str]:
    """The runbook's command line, on a test port and loopback."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "server.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
