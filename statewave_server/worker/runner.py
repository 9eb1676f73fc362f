"""The worker loop: claim a job, run its handler under a heartbeat, record the outcome.

Any number of workers (processes or in-process tasks) share one PostgreSQL; claims use
``FOR UPDATE SKIP LOCKED`` so each job runs in one place at a time. Delivery is
at-least-once: a worker that dies mid-job leaves it ``running`` until the orphan sweep
(run by every worker) returns it to ``pending``, so handlers must be safe to re-run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Final

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import jobs
from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.db.models import Job
from statewave_server.logging import configure_logging
from statewave_server.ops.schema_gate import SchemaGate
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings
from statewave_server.worker.batching import BatchJobHandler, by_subject
from statewave_server.worker.errors import job_error_text
from statewave_server.worker.handlers import JobHandler, build_handlers, resolve
from statewave_server.worker.policy import job_retry
from statewave_server.worker.wakeups import JobWakeups

# How often each worker sweeps for orphaned jobs (also once at start).
MAINTENANCE_INTERVAL_SECONDS: Final = 60.0
# How many queued jobs a batch claim looks at per subject it may take.
BATCH_SCAN: Final = 8
# Pause after a database error, so an outage is not logged at the poll rate.
DB_ERROR_PAUSE_SECONDS: Final = 5.0

log = structlog.get_logger("statewave.worker")

# The work of one job (or one subject's jobs), given the transaction it commits in.
_Run = Callable[[AsyncSession], Awaitable[dict[str, Any]]]


class _JobLost(Exception):
    """Raised inside the handler transaction to roll it back when we no longer own the job."""


def default_worker_id() -> str:
    """``host:pid:random`` — unique per worker so ownership checks cannot be fooled."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; True if it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class Worker:
    """Claims and runs jobs from ``compilation_jobs`` with the given handlers."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        handlers: Mapping[str, JobHandler],
        worker_id: str | None = None,
        *,
        maintenance_interval: float = MAINTENANCE_INTERVAL_SECONDS,
        gate: SchemaGate | None = None,
    ) -> None:
        self.worker_id = worker_id or default_worker_id()
        self._db = database
        self._gate = gate or SchemaGate(
            database.engine, timeout_seconds=settings.db_connect_timeout_seconds
        )
        self._paused = False
        self._settings = settings
        self._handlers = dict(handlers)
        self._policy = job_retry(settings)
        self._maintenance_interval = maintenance_interval
        self._log = log.bind(worker_id=self.worker_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; a job in progress is finished first (graceful stop)."""
        self._log.info("worker_started", kinds=sorted(self._handlers))
        listen_url = self._db.listen_url
        if listen_url is None:
            await self._loop(stop, None)
            return
        async with JobWakeups(listen_url).running() as wakeups:
            await self._loop(stop, wakeups)

    async def _loop(self, stop: asyncio.Event, wakeups: JobWakeups | None) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        idle = self._settings.job_poll_interval_seconds
        while not stop.is_set():
            if wakeups is not None:
                wakeups.arm()
            try:
                if await self._schema_blocks():
                    await _wait(stop, max(idle, DB_ERROR_PAUSE_SECONDS))
                    continue
                if loop.time() >= next_sweep:
                    await self.recover_orphans()
                    next_sweep = loop.time() + self._maintenance_interval
                if await self.run_once():
                    continue
                if wakeups is not None:
                    await wakeups.idle(stop, idle)
                    continue
                pause = idle
            except (SQLAlchemyError, OSError) as exc:
                # The database being briefly unreachable must not kill the worker.
                self._log.warning("worker_db_error", error=str(exc))
                pause = max(idle, DB_ERROR_PAUSE_SECONDS)
            await _wait(stop, pause)
        self._log.info("worker_stopped")

    async def _schema_blocks(self) -> bool:
        """True while the schema is incompatible: no job is claimed or swept, so the previous
        version's in-flight jobs wait for the migration instead of dying on the old schema."""
        status = await self._gate.blocked()
        if (status is not None) != self._paused:
            self._paused = status is not None
            if status is not None:
                self._log.warning("worker_paused_schema_incompatible", detail=status.summary)
            else:
                self._log.info("worker_resumed_schema_compatible")
        return self._paused

    async def recover_orphans(self) -> list[str]:
        """Return jobs whose worker went silent to ``pending`` (and bury exhausted ones)."""
        async with self._db.primary() as session, session.begin():
            swept = await jobs.rescue_orphaned_jobs(
                session, self._settings.job_orphan_after_seconds
            )
        if swept.requeued or swept.dead:
            self._log.info("jobs_recovered", requeued=swept.requeued, dead=swept.dead)
        return swept.requeued

    async def run_once(self) -> bool:
        """Claim and run one job; False when none was runnable.

        For a batchable kind the claim also takes the queued jobs of that kind of up to
        ``worker_batch_subjects`` subjects (its own subject's duplicates included), which
        then run as one batch: one ``prepare`` for all, one transaction per subject.
        """
        async with self._db.primary() as session, session.begin():
            job = await jobs.claim_next(session, self.worker_id)
            if job is None:
                return False
            handler = self._handlers.get(job.kind)
            batch = [job]
            if isinstance(handler, BatchJobHandler):
                subjects = self._settings.worker_batch_subjects
                batch += await jobs.claim_companions(
                    session, self.worker_id, job, subjects=subjects, scan=BATCH_SCAN * subjects
                )
        for claimed in batch:
            self._log.info(
                "job_claimed", job_id=claimed.id, kind=claimed.kind, attempt=claimed.attempts
            )
        if isinstance(handler, BatchJobHandler):
            await self._process_batch(handler, batch)
        else:
            await self._process([job], [job.id], partial(self._run_plain, job))
        return True

    async def _run_plain(self, job: Job, session: AsyncSession) -> dict[str, Any]:
        return await resolve(self._handlers, job.kind)(session, job)

    async def _process_batch(self, handler: BatchJobHandler, batch: list[Job]) -> None:
        """Prepare every subject's work at once, then run each subject's jobs as one."""
        ids = [job.id for job in batch]
        groups = by_subject(batch)
        prepared = await self._prepare(handler, [group[0] for group in groups], ids)
        for group in groups:
            ahead = prepared.get((group[0].tenant_id, group[0].subject_id))
            run = partial(_run_prepared, handler, group[0], ahead)
            await self._process(group, ids, run)

    async def _prepare(
        self, handler: BatchJobHandler, firsts: list[Job], ids: list[str]
    ) -> Mapping[tuple[str, str], object]:
        """The batch's work done ahead, heartbeating meanwhile; nothing if it failed (each
        subject then runs, and fails or succeeds, on its own)."""
        lost, done = asyncio.Event(), asyncio.Event()
        beating = asyncio.create_task(self._heartbeat(ids, set(ids), lost, done))
        try:
            return await handler.prepare(self._db.primary, firsts)
        except Exception as exc:
            self._log.warning("batch_prepare_failed", jobs=len(ids), error=str(exc), exc_info=exc)
            return {}
        finally:
            done.set()
            await beating

    async def _process(self, group: list[Job], beat: list[str], run: _Run) -> None:
        """Run ``run`` for a group of jobs (one subject's, or one job) while heartbeating all
        of ``beat`` (the whole batch); abandon it once no job of the group is ours."""
        lost, done = asyncio.Event(), asyncio.Event()
        watched = {job.id for job in group}
        beating = asyncio.create_task(self._heartbeat(beat, watched, lost, done))
        work = asyncio.create_task(self._execute(group, run))
        lost_wait = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({work, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.set()
            lost_wait.cancel()
            if not work.done():
                work.cancel()
            await asyncio.gather(beating, work, lost_wait, return_exceptions=True)
        await self._record(group, work)

    async def _record(self, group: list[Job], work: asyncio.Task[dict[str, Any]]) -> None:
        first = group[0]
        if work.cancelled():
            self._log.warning("job_abandoned", job_id=first.id, reason="job no longer ours")
            return
        exc = work.exception()
        if isinstance(exc, _JobLost):
            self._log.warning("job_abandoned", job_id=first.id, reason="lost before commit")
        elif isinstance(exc, Exception):
            for job in group:
                await self._fail(job, exc)
        elif exc is not None:
            raise exc
        else:
            created = work.result().get("memories_created")
            for job in group:
                self._log.info(
                    "job_completed", job_id=job.id, kind=job.kind, memories_created=created
                )

    async def _execute(self, group: list[Job], run: _Run) -> dict[str, Any]:
        """The work and the group's completion in one transaction: its writes commit only if
        we still own one of its jobs. Jobs of the group after the first (queued duplicates
        of its subject) are completed with the same result, naming the first."""
        first = group[0]
        async with self._db.primary() as session, session.begin():
            result = await run(session)
            owned = [
                await jobs.complete(
                    session,
                    job.id,
                    self.worker_id,
                    result if job is first else {**result, "coalesced_into": first.id},
                )
                for job in group
            ]
            if not any(owned):
                raise _JobLost(first.id)
        return result

    async def _fail(self, job: Job, exc: Exception) -> None:
        delay = self._policy.delay(job.attempts)
        error = job_error_text(exc)
        async with self._db.primary() as session, session.begin():
            status = await jobs.fail(session, job.id, self.worker_id, error, delay)
        if status == jobs.DEAD:
            self._log.info("job_dead", job_id=job.id, kind=job.kind, error=error, exc_info=exc)
        elif status == jobs.PENDING:
            self._log.info(
                "job_failed",
                job_id=job.id,
                attempt=job.attempts,
                retry_in=delay,
                error=error,
                exc_info=exc,
            )
        else:
            self._log.warning("job_abandoned", job_id=job.id, reason="lost before failing")

    async def _heartbeat(
        self, beat: list[str], watched: set[str], lost: asyncio.Event, done: asyncio.Event
    ) -> None:
        """Refresh the jobs in ``beat`` until ``done``; set ``lost`` once none of ``watched``
        is ours.

        Stopped by an event rather than cancelled, so no statement is cut off mid-flight.
        """
        while not await _wait(done, self._settings.job_heartbeat_seconds):
            try:
                async with self._db.primary() as session, session.begin():
                    ours = await jobs.heartbeat(session, beat, self.worker_id)
            except (SQLAlchemyError, OSError) as exc:
                self._log.warning("job_heartbeat_failed", jobs=beat, error=str(exc))
                continue
            if not ours & watched:
                lost.set()
                return


async def _run_prepared(
    handler: BatchJobHandler, job: Job, prepared: object | None, session: AsyncSession
) -> dict[str, Any]:
    return await handler.run_prepared(session, job, prepared)


def start_in_process_worker(
    database: Database,
    settings: Settings,
    handlers: Mapping[str, JobHandler] | None = None,
    gate: SchemaGate | None = None,
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Start a worker task in this event loop; set the event and await the task to stop it."""
    stop = asyncio.Event()
    chosen = handlers if handlers is not None else build_handlers(None)
    worker = Worker(database, settings, chosen, gate=gate)
    return asyncio.create_task(worker.run(stop), name="statewave-worker"), stop


@contextlib.asynccontextmanager
async def in_process_worker(
    database: Database,
    settings: Settings,
    handlers: Mapping[str, JobHandler] | None = None,
    *,
    gate: SchemaGate | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run a worker alongside the API for the duration of the block (finishes its job on exit);
    with a webhook URL configured, the webhook dispatcher runs too."""
    from statewave_server.worker.dispatcher import start_dispatcher

    task, stop = start_in_process_worker(database, settings, handlers, gate)
    hooks = start_dispatcher(database, settings, stop) if settings.webhook_url else None
    try:
        yield task
    finally:
        stop.set()
        if hooks is not None:
            await asyncio.wait({hooks})  # let deliveries in flight finish; errors surface below
        await task
        if hooks is not None:
            hooks.result()


async def run_worker_process(settings: Settings) -> None:
    """``statewave worker``: run until SIGINT/SIGTERM, then finish the current job and exit."""
    configure_logging(settings)
    url = await asyncio.to_thread(resolve_database_url, settings)
    database = Database.from_settings(settings, url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runtime = await asyncio.to_thread(build_runtime, settings)
        handlers = build_handlers(runtime)
        work = Worker(database, settings, handlers).run(stop)
        if not settings.webhook_url:
            await work
        else:
            from statewave_server.worker.dispatcher import Dispatcher

            async with asyncio.TaskGroup() as group:  # one crashing cancels the other
                group.create_task(work)
                group.create_task(Dispatcher(database, settings).run(stop))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await database.dispose()
