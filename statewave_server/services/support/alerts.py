"""Health alerts: ``subject.health_degraded`` / ``subject.health_improved`` once per change.

Every path that computes a subject's health goes through ``assess_health`` (or
``lock_health`` + ``record_health`` when the caller loads the data itself, as handoff
does): the per-(tenant, subject) cache write and the alert's outbox row happen in the
caller's transaction, so they commit together or not at all, and a per-subject lock makes
concurrent computations see each other's state — a transition is announced exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.health_cache import cached_health, lock_subject_health, store_health
from statewave_server.services.events import EventSink
from statewave_server.services.support.health import (
    HEALTH_EPISODES,
    HEALTH_RESOLUTIONS,
    HEALTHY,
    SEVERITY,
    HealthReport,
    compute_health,
)
from statewave_server.services.support.records import load_support_data

DEGRADED = "subject.health_degraded"
IMPROVED = "subject.health_improved"


async def lock_health(session: AsyncSession, *, tenant_id: str, subject_id: str) -> None:
    """Take the subject's health lock; call before loading the data health is computed on."""
    await lock_subject_health(session, tenant_id=tenant_id, subject_id=subject_id)


async def record_health(
    session: AsyncSession,
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
    report: HealthReport,
    now: datetime,
) -> str | None:
    """Cache the new state and emit the transition event, if any; returns its name.

    No cache row counts as ``healthy``: a first unhealthy computation is a degradation,
    a first healthy one announces nothing. Equal severity announces nothing.
    """
    cached = await cached_health(session, tenant_id=tenant_id, subject_id=subject_id)
    previous = cached.last_state if cached is not None else HEALTHY
    await store_health(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        state=report.state,
        score=report.score,
        factors=[f.as_dict() for f in report.factors],
    )
    before, after = SEVERITY.get(previous, 0), SEVERITY[report.state]
    if after == before:
        return None
    event = DEGRADED if after > before else IMPROVED
    await events.emit(session, tenant_id, event, _payload(subject_id, previous, report, now))
    return event


async def assess_health(
    session: AsyncSession, events: EventSink, *, tenant_id: str, subject_id: str, now: datetime
) -> HealthReport:
    """Lock, load the newest data, compute, cache and alert — in the caller's transaction."""
    await lock_health(session, tenant_id=tenant_id, subject_id=subject_id)
    data = await load_support_data(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        episodes=HEALTH_EPISODES,
        resolutions=HEALTH_RESOLUTIONS,
    )
    report = compute_health(data, now)
    await record_health(
        session, events, tenant_id=tenant_id, subject_id=subject_id, report=report, now=now
    )
    return report


async def subject_health(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
) -> HealthReport:
    """``assess_health`` in its own transaction, committed before returning."""
    async with db.begin() as session:
        return await assess_health(
            session, events, tenant_id=tenant_id, subject_id=subject_id, now=datetime.now(UTC)
        )


def _payload(subject_id: str, previous: str, report: HealthReport, now: datetime) -> dict[str, Any]:
    return {
        "subject_id": subject_id,
        "previous_state": previous,
        "current_state": report.state,
        "score": report.score,
        "factors": [f.as_dict() for f in report.top_factors()],
        "generated_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
