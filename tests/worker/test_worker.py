"""The worker loop against real PostgreSQL: exactly-once under concurrency, retries, rescue."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from statewave_server.db import jobs
from statewave_server.db.engine import Database
from statewave_server.db.models import Job
from statewave_server.settings import Settings
from statewave_server.worker.handlers import JobHandler, build_handlers
from statewave_server.worker.runner import Worker, in_process_worker
from tests.fixtures.factories import (
    database_for,
    load_job,
    make_job,
    make_orphan,
    wait_until,
)
from tests.fixtures.runbook import RESET_STUCK_JOBS_SQL

FAST = {
    "job_poll_interval_seconds": 0.05,
    "job_heartbeat_seconds": 0.2,
    "job_backoff_base_seconds": 0.01,
    "job_backoff_max_seconds": 0.05,
}


def fast_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**FAST, **overrides})


@pytest.fixture
async def db(head_db_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(head_db_url, pool_size=10)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (job_id text, worker text)"))
    yield database_for(engine)
    await engine.dispose()


async def _run_until(workers: list[Worker], done: Callable[[], Awaitable[bool]]) -> None:
    """Run workers concurrently until ``done``, then stop them gracefully."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await wait_until(done, within=20)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def _all_finished(db: Database) -> bool:
    async with db.primary() as session:
        stmt = select(func.count()).where(Job.status.in_(["pending", "running"]))
        return await session.scalar(stmt) == 0


def recording(calls: Counter[str], delay: float = 0.0, tag: str = "") -> JobHandler:
    """A handler that counts its runs and writes one ``effects`` row in its transaction."""

    async def handler(session: AsyncSession, job: Job) -> dict[str, Any]:
        calls[job.id] += 1
        await session.execute(text("INSERT INTO effects VALUES (:j, :w)"), {"j": job.id, "w": tag})
        await asyncio.sleep(delay)
        return {"tag": tag}

    return handler


async def _effects(db: Database) -> list[tuple[str, str]]:
    async with db.primary() as session:
        return [tuple(r) for r in (await session.execute(text("SELECT * FROM effects"))).all()]


async def test_run_once_completes_a_noop_job(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session)
    worker = Worker(db, fast_settings(), build_handlers(None))
    assert await worker.run_once() is True
    assert await worker.run_once() is False
    done = await load_job(db, job.id)
    assert (done.status, done.result, done.claimed_by) == (
        "completed",
        {"ok": True},
        worker.worker_id,
    )


@pytest.mark.slow
async def test_three_workers_complete_each_job_exactly_once(db: Database) -> None:
    async with db.primary() as session, session.begin():
        ids = [(await make_job(session, kind="count")).id for _ in range(40)]
    calls: Counter[str] = Counter()
    workers = [Worker(db, fast_settings(), {"count": recording(calls, 0.01)}) for _ in range(3)]
    await _run_until(workers, lambda: _all_finished(db))
    assert calls == Counter({job_id: 1 for job_id in ids})
    async with db.primary() as session:
        rows = (await session.execute(select(Job.status, Job.claimed_by))).all()
    assert {status for status, _ in rows} == {"completed"}
    assert len({worker for _, worker in rows}) >= 2  # the work really was shared


async def test_failures_back_off_then_the_job_dies_with_its_error(db: Database) -> None:
    attempts: list[str] = []

    async def flaky(session: AsyncSession, job: Job) -> dict[str, Any]:
        attempts.append(job.id)
        raise RuntimeError(f"provider down (attempt {job.attempts})")

    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="flaky", max_attempts=3)
    worker = Worker(db, fast_settings(), {"flaky": flaky})
    await _run_until([worker], lambda: _all_finished(db))
    dead = await load_job(db, job.id)
    assert attempts == [job.id] * 3
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert dead.error == "RuntimeError: provider down (attempt 3)"


async def test_unknown_kind_fails_clearly_and_dies(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="mystery", max_attempts=2)
    await _run_until([Worker(db, fast_settings(), build_handlers(None))], lambda: _all_finished(db))
    dead = await load_job(db, job.id)
    assert dead.status == "dead" and dead.attempts == 2
    assert dead.error and "no handler for job kind 'mystery'" in dead.error


async def test_orphaned_job_is_recovered_and_completed_by_a_worker(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_orphan(session, minutes=31)  # claimed_at 31 min ago, NULL heartbeat
    worker = Worker(db, fast_settings(), build_handlers(None))
    await _run_until([worker], lambda: _all_finished(db))  # sweeps at start, then claims
    done = await load_job(db, job.id)
    assert (done.status, done.claimed_by, done.attempts) == ("completed", worker.worker_id, 2)


async def test_runbook_manual_sql_lets_a_worker_pick_the_job_up(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_orphan(session, minutes=40, heartbeat_at=None)
    async with db.primary() as session, session.begin():
        await session.execute(text(RESET_STUCK_JOBS_SQL))
    worker = Worker(db, fast_settings(), build_handlers(None), maintenance_interval=3600)
    assert await worker.run_once() is True
    assert (await load_job(db, job.id)).status == "completed"


async def test_heartbeat_keeps_a_long_job_from_being_orphaned(db: Database) -> None:
    settings = fast_settings(job_orphan_after_seconds=0.6)
    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="sleep", payload={"seconds": 1.5})
    worker = Worker(db, settings, build_handlers(None))
    running = asyncio.create_task(worker.run_once())
    await asyncio.sleep(1.0)  # well past the 0.6 s orphan threshold
    async with db.primary() as session, session.begin():
        assert await jobs.count_orphaned_jobs(session, 0.6) == 0
        assert await jobs.rescue_orphaned_jobs(session, 0.6) == jobs.RecoveredJobs([], [])
    seen = await load_job(db, job.id)
    assert seen.status == "running" and seen.heartbeat_at and seen.claimed_at
    assert seen.heartbeat_at > seen.started_at
    assert seen.claimed_at == seen.heartbeat_at  # the claim's lease is renewed by the beat
    assert await running is True
    assert (await load_job(db, job.id)).status == "completed"


async def _rescue_and_reclaim(db: Database, job_id: str, rescuer: Worker) -> None:
    """The runbook SQL resets the job under a live worker; another worker runs it."""
    await wait_until(lambda: _is_running(db, job_id))
    async with db.primary() as session, session.begin():
        await session.execute(
            text("UPDATE compilation_jobs SET claimed_at = now() - interval '31 minutes'")
        )
        await session.execute(text(RESET_STUCK_JOBS_SQL))
    assert await rescuer.run_once() is True


async def _is_running(db: Database, job_id: str) -> bool:
    return (await load_job(db, job_id)).status == "running"


@pytest.mark.parametrize("heartbeat", [60.0, 0.1], ids=["caught-at-commit", "caught-by-heartbeat"])
async def test_a_stale_worker_cannot_overwrite_a_rescued_job(
    db: Database, heartbeat: float
) -> None:
    calls: Counter[str] = Counter()
    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="work")
    stale = Worker(
        db, fast_settings(job_heartbeat_seconds=heartbeat), {"work": recording(calls, 1.0, "stale")}
    )
    fresh = Worker(db, fast_settings(), {"work": recording(calls, 0.0, "fresh")})
    stale_run = asyncio.create_task(stale.run_once())
    await _rescue_and_reclaim(db, job.id, fresh)
    assert await stale_run is True
    done = await load_job(db, job.id)
    assert (done.status, done.claimed_by, done.result) == (
        "completed",
        fresh.worker_id,
        {"tag": "fresh"},
    )
    assert calls[job.id] == 2
    assert await _effects(db) == [(job.id, "fresh")]  # the stale run's writes rolled back


async def test_in_process_worker_runs_jobs_and_stops_on_exit(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session)
    async with in_process_worker(db, fast_settings()) as task:
        await wait_until(lambda: _all_finished(db))
        assert not task.done()
    assert task.done() and task.exception() is None
    assert (await load_job(db, job.id)).status == "completed"


async def test_stop_lets_the_current_job_finish(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="sleep", payload={"seconds": 0.5})
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(db, fast_settings(), build_handlers(None)).run(stop))
    await wait_until(lambda: _is_running(db, job.id))
    stop.set()
    await asyncio.wait_for(running, 5)
    assert (await load_job(db, job.id)).status == "completed"


async def test_an_unreachable_database_does_not_kill_the_worker() -> None:
    settings = fast_settings(db_connect_timeout_seconds=1)
    down = Database.from_settings(settings, "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(down, settings, build_handlers(None)).run(stop))
    await asyncio.sleep(0.3)
    assert not running.done()  # still alive, waiting to retry
    stop.set()
    await asyncio.wait_for(running, 5)
    await down.dispose()
