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
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import REPO_ROOT
from devtools.server import free_port, uvicorn_command

RETRY_STATUSES = frozenset({502, 503, 504})


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
        command = [*uvicorn_command(self.port), "--log-level", "warning"]
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

    def crash_and_restart(self) -> float:
        """SIGKILL, then start again; seconds until it is healthy."""
        self.kill9()
        return self.restart()


def postmaster_pid(pgdata: Path) -> int:
    """The PID of the PostgreSQL postmaster serving ``pgdata`` (from ``postmaster.pid``)."""
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def _process_gone(pid: int) -> bool:
    """True once ``pid`` has exited and been reaped (a zombie still counts as running for
    pg_ctl and psutil, so a restart would be skipped)."""
    return not Path(f"/proc/{pid}").exists()


def _restarted(server: Any, pgdata: Path, old_pid: int) -> bool:
    try:
        pg_start(server)
    except Exception:  # orphaned backends may still hold the shared memory: retry
        return False
    return postmaster_pid(pgdata) != old_pid


def postmaster_crash(server: Any, pgdata: Path, api: ApiProcess) -> Callable[[], float]:
    """A ``crash`` for :func:`run_durability`: SIGKILL the PostgreSQL postmaster (no
    shutdown checkpoint; the restart runs crash recovery from the WAL), start it again,
    and wait until the API is ready. Returns the seconds from the kill to ready."""

    def crash() -> float:
        pid = postmaster_pid(pgdata)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        try:
            wait_for(lambda: _process_gone(pid), 60, "postmaster gone and reaped")
            wait_for(lambda: _restarted(server, pgdata, pid), 120, "PostgreSQL restarted")
            wait_for(lambda: readyz(api.base_url)[:2] == (200, "ready"), 120, "API ready")
        except AssertionError as exc:
            log_tail = (pgdata / "log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{exc}; PostgreSQL log ends:\n{log_tail}") from exc
        return time.monotonic() - killed_at

    return crash


async def durability_settings(database_url: str) -> dict[str, str]:
    """The server settings that decide whether a crash can lose a commit."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            names = ("fsync", "synchronous_commit", "full_page_writes", "wal_level")
            return {n: str(await conn.scalar(text(f"SHOW {n}"))) for n in names}
    finally:
        await engine.dispose()


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
    replayed_batches: int = 0
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
            first_failure: datetime | None = None
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
                    first_failure = first_failure or datetime.now(UTC)
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
                stored = response.json()["episodes"]
                ids = [e["id"] for e in stored]
                assert len(ids) == len(batch.episodes)
                # Stored before the connection broke: the retry was answered from the
                # idempotency keys (without them this batch would now be stored twice).
                replayed = first_failure is not None and any(
                    datetime.fromisoformat(e["created_at"].replace("Z", "+00:00")) < first_failure
                    for e in stored
                )
                with stats.lock:
                    acked[batch.key] = ids
                    stats.batches += 1
                    stats.episodes_acked += len(ids)
                    stats.retried_batches += int(retried)
                    stats.replayed_batches += int(replayed)
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
    replayed_batches: int
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
    crash: Callable[[], float] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> DurabilityResult:
    """Ingest ``total`` episodes with ``clients`` threads while ``crash`` (default: SIGKILL
    the API and restart it; returns the seconds until it serves again) runs ``kills`` times
    (evenly spread over the run), then compare the database with what was acknowledged."""
    crash = crash or api.crash_and_restart
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
        log(f"kill -9 #{cycle} after {stats.episodes_acked} acknowledged episodes")
        restart_seconds.append(crash())
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
        kills=len(restart_seconds),
        restarts_seconds=[round(s, 2) for s in restart_seconds],
        transport_errors=stats.transport_errors,
        retry_statuses=stats.retry_statuses,
        retried_batches=stats.retried_batches,
        replayed_batches=stats.replayed_batches,
        rows_in_db=len(ids),
        distinct_seq_in_db=distinct_seq,
        acked_ids=len(acked_ids),
        missing_ids=len(acked_ids - stored),
        unexpected_ids=len(stored - acked_ids),
        seconds=round(time.monotonic() - started, 1),
    )


# --- migration under load ---------------------------------------------------------------

SCRATCH_REVISION = "9999_reliability_scratch"
SCRATCH_COLUMN = "reliability_scratch"
_SCRATCH_SOURCE = '''"""Throwaway additive revision for the migration-under-load scenario.

Revision ID: {revision}
Revises: {down}
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.add_column("episodes", sa.Column("{column}", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("episodes", "{column}")
'''


def scratch_alembic(directory: Path) -> Path:
    """A copy of the project's Alembic setup in ``directory`` plus one additive revision
    on top of head (adds a nullable column to ``episodes``); returns its ``alembic.ini``."""
    import shutil

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini"))).get_current_head()
    shutil.copytree(
        REPO_ROOT / "alembic", directory / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO_ROOT / "alembic.ini", directory / "alembic.ini")
    source = _SCRATCH_SOURCE.format(revision=SCRATCH_REVISION, down=head, column=SCRATCH_COLUMN)
    (directory / "alembic" / "versions" / f"{SCRATCH_REVISION}.py").write_text(source)
    return directory / "alembic.ini"


@dataclass
class MigrationUnderLoad:
    lock_timeout_ms: int
    blocker_seconds: float
    migration_seconds: float
    migration_returncode: int
    lock_timeout_retries: int
    reads: int
    read_errors: int
    max_read_seconds: float
    p50_read_seconds: float
    p99_read_seconds: float
    max_read_during_migration_seconds: float
    column_added: bool


def _percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


async def migration_under_load(
    database_url: str,
    read: Callable[[], Any],
    ini_path: Path,
    *,
    lock_timeout_ms: int = 500,
    retries: int = 8,
    blocker_seconds: float = 3.0,
    readers: int = 4,
    settle_seconds: float = 1.0,
) -> MigrationUnderLoad:
    """Run ``alembic upgrade head`` (the scratch revision) while ``readers`` loops await
    ``read()`` (an awaitable returning an HTTP status) and a long transaction holds an
    ACCESS SHARE lock on ``episodes`` for ``blocker_seconds`` — the situation in which an
    ``ALTER TABLE`` waiting for its lock would queue every later read behind it.
    """
    samples: list[tuple[float, float, int]] = []  # (start, seconds, status)
    stop = asyncio.Event()

    async def reader() -> None:
        loop_deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < loop_deadline:
            started = time.monotonic()
            try:
                status = int(await read())
            except Exception:  # a failed read is an error sample, not a crash
                status = 0
            samples.append((started, time.monotonic() - started, status))
            await asyncio.sleep(0.005)

    engine = create_async_engine(database_url)
    holding = asyncio.Event()

    async def blocker() -> None:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text("SELECT count(*) FROM episodes"))
            holding.set()
            await asyncio.sleep(blocker_seconds)

    env = subprocess_env(
        database_url,
        STATEWAVE_MIGRATION_LOCK_TIMEOUT_MS=str(lock_timeout_ms),
        STATEWAVE_MIGRATION_LOCK_RETRIES=str(retries),
    )
    tasks = [asyncio.create_task(reader()) for _ in range(readers)]
    try:
        await asyncio.sleep(settle_seconds)
        hold = asyncio.create_task(blocker())
        await asyncio.wait_for(holding.wait(), 30)
        migration_started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(ini_path),
            "upgrade",
            "head",
            cwd=REPO_ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 300)
        migration_ended = time.monotonic()
        await hold
        await asyncio.sleep(settle_seconds)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    async with engine.connect() as conn:
        added = await conn.scalar(
            text(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'episodes' AND column_name = :c"
            ),
            {"c": SCRATCH_COLUMN},
        )
    await engine.dispose()
    seconds = [s for _, s, _ in samples]
    during = [s for start, s, _ in samples if migration_started - 0.1 <= start <= migration_ended]
    return MigrationUnderLoad(
        lock_timeout_ms=lock_timeout_ms,
        blocker_seconds=blocker_seconds,
        migration_seconds=round(migration_ended - migration_started, 2),
        migration_returncode=int(process.returncode or 0),
        lock_timeout_retries=output.decode(errors="replace").count("Lock timeout while migrating"),
        reads=len(samples),
        read_errors=sum(1 for _, _, status in samples if status != 200),
        max_read_seconds=round(max(seconds, default=0.0), 3),
        p50_read_seconds=round(_percentile(seconds, 50), 4),
        p99_read_seconds=round(_percentile(seconds, 99), 4),
        max_read_during_migration_seconds=round(max(during, default=0.0), 3),
        column_added=bool(added),
    )


# --- database faults ------------------------------------------------------------------


def pg_stop(server: Any) -> None:
    """Stop an embedded PostgreSQL (``pg_ctl -w stop``, fast mode: sessions are cut)."""
    server.stop()


def pg_start(server: Any) -> None:
    """Start it again on the same data directory and socket."""
    with server._lock:
        server.ensure_postgres_running()


@dataclass(frozen=True)
class Sample:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer at all
    code: str | None


class RequestLoad:
    """A background thread alternating a write (POST /v1/episodes) and a read (GET
    /v1/timeline) every ``pause`` seconds, timing every outcome; bounded by ``max_seconds``."""

    def __init__(
        self, base_url: str, tenant: str, pause: float = 0.05, max_seconds: float = 600
    ) -> None:
        self.base_url, self.tenant, self.pause = base_url, tenant, pause
        self.max_seconds = max_seconds
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RequestLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        headers = {"X-Tenant-ID": self.tenant}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=60) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                started = time.monotonic()
                try:
                    if n % 2:
                        body = {"subject_id": "load", "source": "t", "type": "m", "payload": {}}
                        response = client.post("/v1/episodes", json=body)
                    else:
                        response = client.get("/v1/timeline", params={"subject_id": "load"})
                    code = response.json().get("error", {}).get("code")
                    status = response.status_code
                except (httpx.HTTPError, ValueError):
                    status, code = 0, None
                self.samples.append(Sample(started, time.monotonic() - started, status, code))
                time.sleep(self.pause)


async def schedule_job_and_webhook(url: str, tenant: str, due_in: float) -> tuple[str, str]:
    """A ``noop`` job and a webhook outbox row that fall due ``due_in`` seconds from now."""
    job_id, event_id = uuid.uuid4().hex, str(uuid.uuid4())
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO compilation_jobs (id, tenant_id, subject_id, kind, run_after)"
                    " VALUES (:id, :t, 'faults-job', 'noop', now() + make_interval(secs => :d))"
                ),
                {"id": job_id, "t": tenant, "d": due_in},
            )
            await conn.execute(
                text(
                    "INSERT INTO webhook_events (id, tenant_id, event, payload, next_attempt_at)"
                    " VALUES (CAST(:id AS uuid), :t, 'fault.test', '{\"hello\": 1}',"
                    " now() + make_interval(secs => :d))"
                ),
                {"id": event_id, "t": tenant, "d": due_in},
            )
    finally:
        await engine.dispose()
    return job_id, event_id


async def job_status(url: str, job_id: str) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            status = await conn.scalar(
                text("SELECT status FROM compilation_jobs WHERE id = :id"), {"id": job_id}
            )
    finally:
        await engine.dispose()
    return str(status)


def readyz(base_url: str) -> tuple[int, str, float]:
    """(HTTP status, readiness status, seconds it took)."""
    started = time.monotonic()
    response = httpx.get(f"{base_url}/readyz", timeout=60)
    return response.status_code, str(response.json()["status"]), time.monotonic() - started


def wait_for(check: Callable[[], bool], within: float, what: str) -> float:
    """Poll ``check`` every 0.1 s; seconds it took, or AssertionError after ``within``."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {within} s")


def faults_env(
    database_url: str, webhook_url: str, connect_timeout: float, pool_timeout: float
) -> dict[str, str]:
    """The API with its in-process worker and webhook dispatcher, polling fast."""
    return subprocess_env(
        database_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="true",
        STATEWAVE_WEBHOOK_URL=webhook_url,
        STATEWAVE_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
        STATEWAVE_WEBHOOK_BACKOFF_BASE_SECONDS="0.5",
        STATEWAVE_WEBHOOK_BACKOFF_MAX_SECONDS="1",
        STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.2",
        STATEWAVE_JOB_BACKOFF_BASE_SECONDS="0.5",
        STATEWAVE_DB_CONNECT_TIMEOUT_SECONDS=str(connect_timeout),
        STATEWAVE_DB_POOL_TIMEOUT_SECONDS=str(pool_timeout),
    )
