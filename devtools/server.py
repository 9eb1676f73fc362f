"""Run the real server as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devtools.postgres import REPO_ROOT


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


def api_env(database_url: str, **overrides: str) -> dict[str, str]:
    """:func:`clean_env` for an API process on ``database_url`` without its in-process worker."""
    return clean_env(
        STATEWAVE_DATABASE_URL=database_url, STATEWAVE_RUN_WORKER_IN_PROCESS="false", **overrides
    )


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[str]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()


def wait_until_up(
    base_url: str,
    process: subprocess.Popen[Any],
    timeout: float = 60,
    *,
    error: type[Exception] = AssertionError,
    log_path: Path | None = None,
) -> None:
    """Poll ``/healthz`` until it answers 200; raise ``error`` if the process exits first
    or ``timeout`` seconds pass (naming ``log_path`` when given)."""
    see = f"; see {log_path}" if log_path is not None else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise error(f"server exited early with {process.returncode}{see}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise error(f"server did not come up in time{see}")


@contextmanager
def running_server(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    port: int,
    *,
    cwd: Path = REPO_ROOT,
    timeout: float = 60,
    error: type[Exception] = AssertionError,
) -> Iterator[RunningServer]:
    """Start ``command`` (which must listen on ``port``) in ``cwd``, wait for /healthz (up to
    ``timeout`` seconds, else ``error``), stop it after (SIGTERM, then kill)."""
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process, timeout, error=error, log_path=log_path)
        yield RunningServer(base_url, process, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_on_free_port(
    command: Callable[[int], list[str]], log_path: Path, **env: str
) -> AbstractContextManager[RunningServer]:
    """``command(port)`` on a free loopback port, in :func:`clean_env` plus ``env``."""
    port = free_port()
    return running_server(command(port), clean_env(**env), log_path, port)


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
