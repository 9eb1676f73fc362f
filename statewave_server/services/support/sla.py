"""SLA tracking: first-response and resolution times per support session.

A session is a distinct episode ``session_id`` (resolutions without episodes are not
sessions). Times are event times (episodes' ``occurred_at``), so imported or back-dated
history is measured as it happened, not as it was ingested. Its clock starts at the first
customer message; the first response is the first responder episode at or after it (any
responder episode when the customer never wrote); resolution time runs to the resolution's
``resolved_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.services.support.records import (
    CUSTOMER_SOURCES,
    OPEN,
    RESOLVED,
    RESPONDER_SOURCES,
    SupportData,
    SupportEpisode,
    SupportResolution,
    by_session,
    load_support_data,
)

#: How many of the newest episodes and resolutions SLA tracking reads.
SLA_EPISODES = 500
SLA_RESOLUTIONS = 200
DEFAULT_FIRST_RESPONSE_MINUTES = 5.0
DEFAULT_RESOLUTION_HOURS = 24.0
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SlaThresholds:
    first_response_seconds: float = DEFAULT_FIRST_RESPONSE_MINUTES * 60
    resolution_seconds: float = DEFAULT_RESOLUTION_HOURS * 3600

    @classmethod
    def of(cls, first_response_minutes: float, resolution_hours: float) -> SlaThresholds:
        return cls(first_response_minutes * 60, resolution_hours * 3600)


@dataclass(frozen=True, slots=True)
class SessionSla:
    session_id: str
    status: str
    first_message_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_seconds: float | None = None
    resolution_seconds: float | None = None
    open_duration_seconds: float | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False


@dataclass(frozen=True, slots=True)
class SlaSummary:
    subject_id: str
    total_sessions: int
    resolved_sessions: int
    open_sessions: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    first_response_breach_count: int
    resolution_breach_count: int
    sessions: tuple[SessionSla, ...]


def session_sla(
    session_id: str,
    episodes: Sequence[SupportEpisode],
    resolution: SupportResolution | None,
    now: datetime,
    thresholds: SlaThresholds = SlaThresholds(),
) -> SessionSla:
    """Metrics of one session; ``episodes`` may be in any order."""
    ordered = sorted(episodes, key=lambda e: e.occurred_at)
    customer = next((e for e in ordered if e.source in CUSTOMER_SOURCES), None)
    after = customer.occurred_at if customer is not None else None
    response = next(
        (
            e
            for e in ordered
            if e.source in RESPONDER_SOURCES and (after is None or e.occurred_at >= after)
        ),
        None,
    )
    status = resolution.status if resolution is not None else UNKNOWN
    resolved_at = resolution.resolved_at if resolution is not None else None
    first_message_at = after or (ordered[0].occurred_at if ordered else None)
    first_response_seconds = _seconds(response.occurred_at - after) if response and after else None
    resolution_seconds = _seconds(resolved_at - after) if resolved_at and after else None
    open_seconds = _seconds(now - first_message_at) if status == OPEN and first_message_at else None
    return SessionSla(
        session_id=session_id,
        status=status,
        first_message_at=first_message_at,
        first_response_at=response.occurred_at if response else None,
        resolved_at=resolved_at,
        first_response_seconds=first_response_seconds,
        resolution_seconds=resolution_seconds,
        open_duration_seconds=open_seconds,
        first_response_breached=_over(first_response_seconds, thresholds.first_response_seconds),
        resolution_breached=_over(resolution_seconds, thresholds.resolution_seconds),
    )


def compute_sla(
    subject_id: str,
    data: SupportData,
    now: datetime,
    thresholds: SlaThresholds = SlaThresholds(),
) -> SlaSummary:
    """Per-session metrics in first-seen order, and their totals and averages."""
    resolutions = {r.session_id: r for r in data.resolutions}
    sessions = tuple(
        session_sla(sid, episodes, resolutions.get(sid), now, thresholds)
        for sid, episodes in by_session(data.episodes).items()
    )
    return SlaSummary(
        subject_id=subject_id,
        total_sessions=len(sessions),
        resolved_sessions=sum(1 for s in sessions if s.status == RESOLVED),
        open_sessions=sum(1 for s in sessions if s.status == OPEN),
        avg_first_response_seconds=_mean([s.first_response_seconds for s in sessions]),
        avg_resolution_seconds=_mean([s.resolution_seconds for s in sessions]),
        first_response_breach_count=sum(1 for s in sessions if s.first_response_breached),
        resolution_breach_count=sum(1 for s in sessions if s.resolution_breached),
        sessions=sessions,
    )


async def subject_sla(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    thresholds: SlaThresholds = SlaThresholds(),
) -> SlaSummary:
    """SLA metrics over the subject's newest episodes (read-only)."""
    async with db() as session:
        data = await load_support_data(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            episodes=SLA_EPISODES,
            resolutions=SLA_RESOLUTIONS,
        )
    return compute_sla(subject_id, data, datetime.now(UTC), thresholds)


def _seconds(delta: timedelta) -> float:
    """A duration in seconds, never negative (a resolution recorded before the first
    message counts as instant, not as time travel)."""
    return max(0.0, delta.total_seconds())


def _over(value: float | None, threshold: float) -> bool:
    return value is not None and value > threshold


def _mean(values: Sequence[float | None]) -> float | None:
    samples = [v for v in values if v is not None]
    return sum(samples) / len(samples) if samples else None
