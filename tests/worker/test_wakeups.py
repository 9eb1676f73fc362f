"""An idle worker claims a job as soon as it is queued (``LISTEN``), not at its next poll;
without a place to listen it still polls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from statewave_server.db import jobs
from statewave_server.db.engine import Database
from statewave_server.settings import Settings
from statewave_server.worker.handlers import build_handlers
from statewave_server.worker.runner import Worker
from tests.fixtures.factories import load_job, wait_until

POLL_SECONDS = 60.0  # far longer than the test waits: only a wake-up can claim in time


@pytest.fixture
async def listening_db(head_db_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(head_db_url, pool_size=5)
    yield Database(engine, async_sessionmaker(engine, expire_on_commit=False), head_db_url)
    await engine.dispose()


async def _enqueue(db: Database) -> str:
    async with db.primary() as session, session.begin():
        job = await jobs.enqueue(session, kind="noop", tenant_id="default", subject_id="s-1")
    return job.id


async def _completed(db: Database, job_id: str) -> bool:
    return (await load_job(db, job_id)).status == "completed"


async def test_a_queued_job_wakes_the_idle_worker(listening_db: Database) -> None:
    settings = Settings(_env_file=None, job_poll_interval_seconds=POLL_SECONDS)
    worker = Worker(listening_db, settings, build_handlers(None))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(3):  # each time the worker is idle in its 60 s pause
            await asyncio.sleep(0.5)
            queued_at = time.monotonic()
            job_id = await _enqueue(listening_db)
            await wait_until(lambda job_id=job_id: _completed(listening_db, job_id), within=10)
            assert time.monotonic() - queued_at < POLL_SECONDS / 2
    finally:
        stop.set()
        await running


async def test_without_a_listen_url_the_worker_polls(listening_db: Database) -> None:
    polling = Database(listening_db.engine, listening_db.primary, None)
    settings = Settings(_env_file=None, job_poll_interval_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(polling, settings, build_handlers(None)).run(stop))
    try:
        job_id = await _enqueue(polling)
        await wait_until(lambda: _completed(polling, job_id), within=10)
    finally:
        stop.set()
        await running
