"""Deep readiness: can this process serve traffic, and is anything needing an operator?

Checks run one after another, each bounded by a short timeout, and a failure of any of
them (including a database that cannot be connected at all) becomes a check result, never
an exception: ``/readyz`` must answer 503, not 500, when the database is down.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import text

from statewave_server.db.engine import Database
from statewave_server.db.jobs import count_orphaned_jobs
from statewave_server.db.read_routing import REPLICA_ERRORS, ReadRouter
from statewave_server.ops.migrations import (
    DB_ERRORS,
    check_migration_status,
    describe_error,
    unreachable_message,
)
from statewave_server.settings import Settings

CheckStatus = Literal["ok", "degraded", "fail"]
ReadyStatus = Literal["ready", "degraded", "not_ready"]

# Readiness probes run every few seconds: they must answer well inside a probe's timeout.
_PROBE_TIMEOUT_SECONDS = 2.0


class Check(BaseModel):
    name: str
    status: CheckStatus
    detail: str | None = None
    latency_ms: float | None = None


class Readiness(BaseModel):
    status: ReadyStatus
    checks: list[Check]

    def body(self) -> dict[str, object]:
        """The wire shape: ``detail``/``latency_ms`` only when they say something."""
        return {
            "status": self.status,
            "checks": [c.model_dump(exclude_none=True) for c in self.checks],
        }


def _timeout(settings: Settings) -> float:
    return min(_PROBE_TIMEOUT_SECONDS, settings.db_connect_timeout_seconds)


async def _database_check(database: Database, timeout_seconds: float) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds), database.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except DB_ERRORS as exc:
        return Check(
            name="database", status="fail", detail=unreachable_message(exc, timeout_seconds)
        )
    latency = round((time.perf_counter() - started) * 1000, 1)
    return Check(name="database", status="ok", latency_ms=latency or None)


async def _queue_check(database: Database, settings: Settings, timeout_seconds: float) -> Check:
    """Orphaned jobs recover on their own, so they degrade readiness rather than fail it."""
    try:
        async with asyncio.timeout(timeout_seconds), database.primary() as session:
            orphaned = await count_orphaned_jobs(session, settings.job_orphan_after_seconds)
    except DB_ERRORS as exc:
        detail = f"queue check failed: {describe_error(exc, timeout_seconds)}"
        return Check(name="queue", status="degraded", detail=detail)
    if not orphaned:
        return Check(name="queue", status="ok")
    minutes = settings.job_orphan_after_seconds / 60
    detail = (
        f"{orphaned} orphaned job(s) running with no heartbeat for over {minutes:g} minutes; "
        "they return to pending automatically (or run `statewave jobs rescue`)"
    )
    return Check(name="queue", status="degraded", detail=detail)


async def _schema_check(database: Database, settings: Settings, timeout_seconds: float) -> Check:
    """Below the minimum (or not our schema at all) the data routes answer 503
    ``schema_incompatible``, so the process is not ready whatever the strict setting; a
    database ahead of this version fails only in strict mode; compatible with migrations
    still pending is only ``degraded``."""
    status = await check_migration_status(database.engine, timeout_seconds=timeout_seconds)
    if status.unusable:
        return Check(name="schema", status="fail", detail=status.summary)
    if not status.is_compatible:
        verdict: CheckStatus = "fail" if settings.strict_schema else "degraded"
        return Check(name="schema", status=verdict, detail=status.summary)
    if status.pending_count:
        return Check(name="schema", status="degraded", detail=status.summary)
    return Check(name="schema", status="ok")


async def _replica_check(replica: ReadRouter, timeout_seconds: float) -> Check:
    """A replica that is down costs the primary its reads, not the clients an answer:
    ``degraded``, with how reads were routed so far."""
    try:
        async with asyncio.timeout(timeout_seconds):
            behind = await replica.bytes_behind()
    except REPLICA_ERRORS as exc:
        detail = f"{describe_error(exc, timeout_seconds)}; {replica.summary()}"
        return Check(name="read_replica", status="degraded", detail=detail)
    detail = f"replay {behind} bytes behind the primary; {replica.summary()}"
    return Check(name="read_replica", status="ok", detail=detail)


def _overall(checks: list[Check]) -> ReadyStatus:
    if any(c.status == "fail" for c in checks):
        return "not_ready"
    if any(c.status == "degraded" for c in checks):
        return "degraded"
    return "ready"


async def check_readiness(database: Database, settings: Settings) -> Readiness:
    """Database, then queue, schema and the read replica if any (skipped when the
    database is unreachable)."""
    timeout = _timeout(settings)
    checks = [await _database_check(database, timeout)]
    if checks[0].status == "ok":
        checks.append(await _queue_check(database, settings, timeout))
        checks.append(await _schema_check(database, settings, timeout))
        if database.replica is not None:
            checks.append(await _replica_check(database.replica, timeout))
    return Readiness(status=_overall(checks), checks=checks)
