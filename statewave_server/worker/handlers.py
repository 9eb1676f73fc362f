"""Job kinds and the plain async functions that run them.

A handler is ``async def handler(session, job) -> dict``: it receives the claimed job row
and a session whose transaction the worker commits together with marking the job
``completed`` (and rolls back if the job was lost meanwhile). Delivery is at-least-once: a
handler may run again after a crash or a rescue, so it must be safe to re-run (idempotent
writes, or work that the rolled-back transaction fully undoes).

Adding a kind: write the handler and add it in :func:`build_handlers`, the one registry
that the API process and ``statewave worker`` both use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Job
from statewave_server.services.compilation import COMPILE_KIND
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.worker.memory_jobs import CompileJobs

JobHandler = Callable[[AsyncSession, Job], Awaitable[dict[str, Any]]]

# The longest the diagnostics ``sleep`` kind will wait, so a typo cannot park a worker.
MAX_SLEEP_SECONDS: Final = 3600.0


class UnknownJobKind(LookupError):
    """A job whose kind no handler is registered for (it fails, then goes ``dead``)."""


def build_handlers(runtime: MemoryRuntime | None) -> dict[str, JobHandler]:
    """Every job kind this process runs: the diagnostics kinds, and ``compile`` when given
    the memory runtime (compiler and embedder) it needs."""
    handlers: dict[str, JobHandler] = {"noop": noop, "sleep": sleep}
    if runtime is not None:
        handlers[COMPILE_KIND] = CompileJobs(runtime)  # also a batch handler (batching.py)
    return handlers


def resolve(handlers: dict[str, JobHandler], kind: str) -> JobHandler:
    """The handler for ``kind``, or an error naming the kinds this worker knows."""
    try:
        return handlers[kind]
    except KeyError:
        known = ", ".join(sorted(handlers)) or "none"
        raise UnknownJobKind(f"no handler for job kind {kind!r} (known: {known})") from None


async def noop(session: AsyncSession, job: Job) -> dict[str, Any]:
    """Does nothing: proves a worker claims and completes jobs (tests, smoke checks)."""
    return {"ok": True}


async def sleep(session: AsyncSession, job: Job) -> dict[str, Any]:
    """Diagnostics: holds the job for ``payload["seconds"]`` to exercise heartbeats/rescue."""
    seconds = min(float(job.payload.get("seconds", 0)), MAX_SLEEP_SECONDS)
    await asyncio.sleep(max(seconds, 0.0))
    return {"slept_seconds": seconds}
