"""The last 24 hours at a glance: hourly series for the dashboard's sparklines and the
webhook page's delivery summary (one short read transaction each).

The series scan their tables' last day, and ``episodes`` has no index on ``created_at``
alone (the schema is frozen), so on a large database they cost tens of milliseconds: each
server process computes them at most once every :data:`CACHE_SECONDS` (the dashboard says
as of when), whatever the number of open, auto-refreshing dashboards.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from statewave_server.db.admin_queries import activity as repo
from statewave_server.db.admin_queries.activity import WebhookSummary
from statewave_server.db.read_routing import SessionFactory

HOURS = 24
DAY = timedelta(hours=HOURS)
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class LastDay:
    """24 UTC hours, oldest first (the last one is the current, partial hour), and one
    count per hour for each series."""

    hours: list[datetime]
    episodes: list[int]
    jobs_completed: list[int]
    delivered: list[int]
    failed: list[int]
    #: Jobs waiting at the end of each hour (for the current hour: now).
    queue_depth: list[int]
    computed_at: datetime


def _hours(now: datetime) -> list[datetime]:
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - repo.HOUR * (HOURS - 1 - i) for i in range(HOURS)]


_cached: weakref.WeakKeyDictionary[SessionFactory, tuple[float, LastDay]] = (
    weakref.WeakKeyDictionary()
)


async def last_day(db: SessionFactory, now: datetime | None = None) -> LastDay:
    """Every series over the 24 hours ending in the hour of ``now``; without ``now``, the
    current ones, reused for :data:`CACHE_SECONDS`."""
    if now is not None:
        return await _last_day(db, now)
    hit = _cached.get(db)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    started = time.monotonic()
    day = await _last_day(db, datetime.now(UTC))
    _cached[db] = (started, day)
    return day


async def _last_day(db: SessionFactory, now: datetime) -> LastDay:
    hours = _hours(now)
    since = hours[0]
    async with db() as session:
        episodes = await repo.episodes_recorded(session, since)
        completed = await repo.jobs_completed(session, since)
        outcomes = await repo.webhook_outcomes(session, since)
        depth = await repo.queue_depth(session, hours[0] + repo.HOUR, HOURS)
    return LastDay(
        hours=hours,
        episodes=[episodes.get(h, 0) for h in hours],
        jobs_completed=[completed.get(h, 0) for h in hours],
        delivered=[outcomes.get(h, [0, 0])[0] for h in hours],
        failed=[outcomes.get(h, [0, 0])[1] for h in hours],
        queue_depth=[depth.get(h + repo.HOUR, 0) for h in hours],
        computed_at=now,
    )


async def webhook_summary(db: SessionFactory, now: datetime | None = None) -> WebhookSummary:
    """Deliveries and failures of the last 24 hours, and the newest of each ever."""
    async with db() as session:
        return await repo.webhook_summary(session, (now or datetime.now(UTC)) - DAY)
