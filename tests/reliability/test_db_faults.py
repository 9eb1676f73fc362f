"""Database faults under load: PostgreSQL is stopped and started again while the API (with
its in-process worker and webhook dispatcher) serves light traffic.

While it is down every request answers quickly — 503 ``database_unavailable`` in the error
envelope, never a hang past the connect timeout — and ``/readyz`` says ``not_ready``; once
it is back ``/readyz`` says ``ready``, traffic succeeds again, and a job and a webhook
that fell due during the outage are completed and delivered (exactly once).

The long version (several outages) is ``bench/reliability.py faults``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devtools.harness import (
    ApiProcess,
    RequestLoad,
    faults_env,
    job_status,
    pg_start,
    pg_stop,
    readyz,
    schedule_job_and_webhook,
    wait_for,
)
from devtools.postgres import PgServer, alembic
from devtools.receiver import Receiver, running_receiver

CONNECT_TIMEOUT = 2.0
POOL_TIMEOUT = 2.0
MARGIN = 3.0
TENANT = "faults"


@pytest.mark.slow
def test_postgres_restart_under_load(own_pg: PgServer, tmp_path: Path) -> None:
    url = own_pg.create_database("faults")
    alembic("upgrade", "head", database_url=url)
    with running_receiver() as receiver:
        env = faults_env(url, receiver.url, CONNECT_TIMEOUT, POOL_TIMEOUT)
        api = ApiProcess(env, tmp_path / "api.log")
        api.restart()
        try:
            _run_outage(own_pg, api, url, receiver)
        finally:
            api.stop()


def _run_outage(pg: PgServer, api: ApiProcess, url: str, receiver: Receiver) -> None:
    assert readyz(api.base_url)[:2] == (200, "ready")
    job_id, event_id = asyncio.run(schedule_job_and_webhook(url, TENANT, due_in=2.0))
    with RequestLoad(api.base_url, TENANT, max_seconds=120) as load:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        pg_stop(pg.server)
        down_at = time.monotonic()  # pg_ctl -w returned: the server is gone
        down_probes = []
        for _ in range(6):  # ~6 s of outage, probing readiness
            down_probes.append(readyz(api.base_url))
            time.sleep(0.8)
        restarted_at = time.monotonic()
        pg_start(pg.server)
        wait_for(lambda: readyz(api.base_url)[:2] == (200, "ready"), 30, "/readyz ready")
        ready_at = time.monotonic()
        wait_for(lambda: asyncio.run(job_status(url, job_id)) == "completed", 30, "job done")
        wait_for(
            lambda: any(r.event_id == event_id for r in receiver.accepted()), 30, "webhook sent"
        )
        time.sleep(1.0)  # some traffic after recovery

    samples = load.samples
    # Requests that began once the server was gone and ended before the restart began
    # (those racing the shutdown itself may still succeed, but never answer 500).
    outage = [s for s in samples if s.started > down_at and s.started + s.seconds < restarted_at]
    shutting_down = [s for s in samples if stopped_at <= s.started <= down_at]
    after = [s for s in samples if s.started > ready_at]
    assert outage and after
    assert all(p[0] == 503 and p[1] == "not_ready" for p in down_probes), down_probes
    assert max(p[2] for p in down_probes) < CONNECT_TIMEOUT + MARGIN
    # A 500 here is a database error that was not mapped to 503 (e.g. asyncpg's
    # "the database system is shutting down", SQLSTATE 57P03, a plain DBAPIError).
    assert {s.status for s in outage} == {503}, {(s.status, s.code) for s in outage}
    assert {s.code for s in outage} == {"database_unavailable"}
    assert max(s.seconds for s in samples) < CONNECT_TIMEOUT + POOL_TIMEOUT + MARGIN
    assert {s.status for s in after} <= {200, 201}, {(s.status, s.code) for s in after}
    assert {s.status for s in shutting_down} <= {200, 201, 503}, shutting_down
    assert not [s for s in samples if s.status in (0, 500)]
    delivered = [r for r in receiver.accepted() if r.event_id == event_id]
    assert len(delivered) == 1, delivered
