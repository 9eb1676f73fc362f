"""Reusable pieces of the reliability scenarios, shared by the tests (short versions) and
``bench/reliability.py`` (long versions): real server and worker subprocesses that can be
killed with SIGKILL and restarted, an idempotent batch-ingest client that retries, and the
exact-once check against the database.

Everything talks to 127.0.0.1 only; every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
RETRY_STATUSES = frozenset({502, 503, 504})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env(database_url: str, **overrides: str) -> dict[str, str]:
    """This environment without Statewave configuration, pointed at ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            "STATEWAVE_DATABASE_URL": database_url,
            "STATEWAVE_RUN_WORKER_IN_PROCESS": "false",
            "STATEWAVE_EMBEDDING_PROVIDER": "hash",
            "STATEWAVE_LOG_LEVEL": "WARNING",
            "STATEWAVE_LOG_FORMAT": "json",
            "STATEWAVE_TRACING_ENABLED": "false",
        }
    )
    env.update(overrides)
    return env


class ManagedProcess:
    """A subprocess (the API or a worker) that can be SIGKILLed and started again."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command, self.env, self.log_path = command, env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log_path.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command, cwd=REPO_ROOT, env=self.env, stdout=sink, stderr=sink
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown hooks, no lifespan, in-flight requests are cut."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after 20 s."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class ApiProcess(ManagedProcess):
    """``python -m uvicorn server.app:app`` on a fixed loopback port (kept across restarts)."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "server.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        super().__init__(command, env, log_path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until ``/healthz`` answered 200; AssertionError if it never did."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise AssertionError(f"server exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy after {timeout} s; see {self.log_path}")

    def restart(self) -> float:
        self.start()
        return self.wait_healthy()


def worker_command() -> list[str]:
    return [sys.executable, "-m", "statewave_server", "worker"]


# --- durable ingest ---------------------------------------------------------------------


@dataclass
class IngestStats:
    batches: int = 0
    episodes_acked: int = 0
    transport_errors: int = 0
    retry_statuses: int = 0
    retried_batches: int = 0
    request_seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Batch:
    key: str
    episodes: list[dict[str, Any]]


def make_batches(run: str, total: int, batch_size: int, subjects: int) -> list[Batch]:
    """``total`` episodes in batches, each with a unique ``seq`` in its payload."""
    batches = []
    for start in range(0, total, batch_size):
        episodes = [
            {
                "subject_id": f"dur-{seq % subjects}",
                "source": "durability",
                "type": "message",
                "payload": {"seq": seq, "text": f"episode {seq} of run {run}"},
            }
            for seq in range(start, min(total, start + batch_size))
        ]
        batches.append(Batch(f"{run}-b{start // batch_size}", episodes))
    return batches


def ingest_until_acked(
    base_url: Callable[[], str],
    tenant: str,
    batches: Sequence[Batch],
    acked: dict[str, list[str]],
    stats: IngestStats,
    deadline: float,
) -> None:
    """Post each batch with its ``Idempotency-Key`` until it is acknowledged with 201
    (retrying connection errors and 502/503/504); records the acknowledged ids."""
    headers = {"X-Tenant-ID": tenant}
    with httpx.Client(timeout=30, headers=headers) as client:
        for batch in batches:
            retried = False
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"batch {batch.key} not acknowledged before the deadline")
                started = time.monotonic()
                try:
                    response = client.post(
                        f"{base_url()}/v1/episodes/batch",
                        json={"episodes": batch.episodes},
                        headers={"Idempotency-Key": batch.key},
                    )
                except httpx.TransportError:
                    with stats.lock:
                        stats.transport_errors += 1
                    retried = True
                    time.sleep(0.05)
                    continue
                if response.status_code in RETRY_STATUSES:
                    with stats.lock:
                        stats.retry_statuses += 1
                    retried = True
                    time.sleep(0.05)
                    continue
                if response.status_code != 201:
                    raise AssertionError(f"{batch.key}: {response.status_code} {response.text}")
                ids = [e["id"] for e in response.json()["episodes"]]
                assert len(ids) == len(batch.episodes)
                with stats.lock:
                    acked[batch.key] = ids
                    stats.batches += 1
                    stats.episodes_acked += len(ids)
                    stats.retried_batches += int(retried)
                    stats.request_seconds.append(time.monotonic() - started)
                break


@dataclass
class DurabilityResult:
    episodes: int
    batches: int
    kills: int
    restarts_seconds: list[float]
    transport_errors: int
    retry_statuses: int
    retried_batches: int
    rows_in_db: int
    distinct_seq_in_db: int
    acked_ids: int
    missing_ids: int
    unexpected_ids: int
    seconds: float

    @property
    def exact_once(self) -> bool:
        return (
            self.rows_in_db == self.episodes == self.distinct_seq_in_db == self.acked_ids
            and self.missing_ids == 0
            and self.unexpected_ids == 0
        )


async def stored_episodes(database_url: str, tenant: str) -> tuple[list[str], int]:
    """(ids of every stored episode of ``tenant``, distinct payload ``seq`` count)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            ids = (
                await conn.scalars(
                    text("SELECT id::text FROM episodes WHERE tenant_id = :t"), {"t": tenant}
                )
            ).all()
            seqs = await conn.scalar(
                text("SELECT count(DISTINCT payload->>'seq') FROM episodes WHERE tenant_id = :t"),
                {"t": tenant},
            )
    finally:
        await engine.dispose()
    return list(ids), int(seqs or 0)


def run_durability(
    api: ApiProcess,
    database_url: str,
    *,
    total: int,
    batch_size: int = 50,
    clients: int = 2,
    kills: int = 3,
    subjects: int = 20,
    timeout: float = 600.0,
    log: Callable[[str], None] = lambda _: None,
) -> DurabilityResult:
    """Ingest ``total`` episodes with ``clients`` threads while the API is SIGKILLed and
    restarted ``kills`` times (evenly spread over the run), then compare the database with
    what was acknowledged."""
    started = time.monotonic()
    deadline = started + timeout
    run = uuid.uuid4().hex[:8]
    tenant = f"durability-{run}"
    batches = make_batches(run, total, batch_size, subjects)
    acked: dict[str, list[str]] = {}
    stats = IngestStats()
    errors: list[BaseException] = []

    def client(share: Sequence[Batch]) -> None:
        try:
            ingest_until_acked(lambda: api.base_url, tenant, share, acked, stats, deadline)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=client, args=(batches[i::clients],), daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    restart_seconds: list[float] = []
    for cycle in range(1, kills + 1):
        target = total * cycle // (kills + 1)
        while stats.episodes_acked < target and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        if errors or time.monotonic() >= deadline:
            break
        api.kill9()
        log(f"kill -9 #{cycle} after {stats.episodes_acked} acknowledged episodes")
        restart_seconds.append(api.restart())
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    if errors:
        raise errors[0]
    ids, distinct_seq = asyncio.run(stored_episodes(database_url, tenant))
    acked_ids = {i for batch_ids in acked.values() for i in batch_ids}
    stored = set(ids)
    return DurabilityResult(
        episodes=total,
        batches=len(batches),
        kills=api.kills,
        restarts_seconds=[round(s, 2) for s in restart_seconds],
        transport_errors=stats.transport_errors,
        retry_statuses=stats.retry_statuses,
        retried_batches=stats.retried_batches,
        rows_in_db=len(ids),
        distinct_seq_in_db=distinct_seq,
        acked_ids=len(acked_ids),
        missing_ids=len(acked_ids - stored),
        unexpected_ids=len(stored - acked_ids),
        seconds=round(time.monotonic() - started, 1),
    )
