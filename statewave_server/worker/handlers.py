"""Job kinds and the plain async functions that run them.

A handler is ``async def handler(session, job) -> dict``: it receives the claimed job row
and a session whose transaction the worker commits together with marking the job
``completed`` (and rolls back if the job was lost meanwhile). Delivery is at-least-once: a
handler may run again after a crash or a rescue, so it must be safe to re-run (idempotent
writes, or work that the rolled-back transaction fully undoes).

Adding a kind: decorate the function with ``@register("compile")`` in its own module and
list that module in ``HANDLER_MODULES`` so worker processes import it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import CompilationJob

JobHandler = Callable[[AsyncSession, CompilationJob], Awaitable[dict[str, Any]]]

# Modules that register handlers when imported (e.g. the memory-core ``compile`` kind).
HANDLER_MODULES: Final[tuple[str, ...]] = ()

# The longest the diagnostics ``sleep`` kind will wait, so a typo cannot park a worker.
MAX_SLEEP_SECONDS: Final = 3600.0

_REGISTRY: dict[str, JobHandler] = {}


class UnknownJobKind(LookupError):
    """A job whose kind no handler is registered for (it fails, then goes ``dead``)."""


def register(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Decorator: make ``kind`` jobs run the decorated handler in every worker."""

    def decorate(handler: JobHandler) -> JobHandler:
        if _REGISTRY.get(kind, handler) is not handler:
            raise ValueError(f"job kind {kind!r} already has a handler")
        _REGISTRY[kind] = handler
        return handler

    return decorate


def default_handlers() -> dict[str, JobHandler]:
    """Every registered kind, after importing the modules that register the optional ones."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def resolve(handlers: dict[str, JobHandler], kind: str) -> JobHandler:
    """The handler for ``kind``, or an error naming the kinds this worker knows."""
    try:
        return handlers[kind]
    except KeyError:
        known = ", ".join(sorted(handlers)) or "none"
        raise UnknownJobKind(f"no handler for job kind {kind!r} (known: {known})") from None


@register("noop")
async def noop(session: AsyncSession, job: CompilationJob) -> dict[str, Any]:
    """Does nothing: proves a worker claims and completes jobs (tests, smoke checks)."""
    return {"ok": True}


@register("sleep")
async def sleep(session: AsyncSession, job: CompilationJob) -> dict[str, Any]:
    """Diagnostics: holds the job for ``payload["seconds"]`` to exercise heartbeats/rescue."""
    seconds = min(float(job.payload.get("seconds", 0)), MAX_SLEEP_SECONDS)
    await asyncio.sleep(max(seconds, 0.0))
    return {"slept_seconds": seconds}
