"""Waking an idle worker the moment a job is queued, instead of at its next poll.

``db.jobs.enqueue`` notifies ``JOBS_CHANNEL`` in the enqueuing transaction, so the
notification arrives when the job becomes claimable. Wake-ups only shorten the idle
pause: a worker still polls every ``job_poll_interval_seconds``, so a lost connection
(or a pooler that cannot ``LISTEN``) costs latency, never a job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

from statewave_server.db.jobs import JOBS_CHANNEL
from statewave_server.db.listen_connection import connect_for_listening, keep_listening

APPLICATION_NAME: Final = "statewave-job-wakeups"


class JobWakeups:
    """Listens on ``JOBS_CHANNEL`` while :meth:`running`; :meth:`idle` waits for a wake-up."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._queued = asyncio.Event()

    def arm(self) -> None:
        """Forget earlier wake-ups: called right before looking for work, so a job queued
        after the look (and only such a job) ends the next :meth:`idle` early."""
        self._queued.clear()

    async def idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait up to ``seconds`` for a queued job or ``stop``, whichever comes first."""
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._queued.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[JobWakeups]:
        """Listen for the duration of the block."""
        task = asyncio.create_task(self._listen(), name="job-wakeups")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        await keep_listening(self._listen_once, lost_event="job_wakeups_lost")

    async def _listen_once(self) -> None:
        connection = await connect_for_listening(
            self._url, application_name=APPLICATION_NAME, connect_timeout=self._connect_timeout
        )
        closed = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: closed.set())
            await connection.add_listener(JOBS_CHANNEL, self._heard)
            self._queued.set()  # jobs queued while nobody listened: look for them now
            await closed.wait()
        finally:
            connection.terminate()

    def _heard(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._queued.set()
