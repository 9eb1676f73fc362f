"""The dashboard's last day, hour by hour: one ``GROUP BY`` per series over a time window.

Hours are UTC (``date_trunc('hour', …, 'UTC')``), so the buckets do not depend on the
session's time zone. Each function returns only the hours that had rows; the caller fills
in the zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import jobs as job_repo
from statewave_server.db import outbox
from statewave_server.db.models import Episode, Job, WebhookEvent

HOUR = timedelta(hours=1)


def _hour(column: Any) -> ColumnElement[datetime]:
    return func.date_trunc("hour", column, "UTC")


async def _counts(session: AsyncSession, statement: Select[datetime, int]) -> dict[datetime, int]:
    """``{hour: n}`` from a statement selecting (hour, count)."""
    return {at_hour: int(n) for at_hour, n in await session.execute(statement)}


async def episodes_recorded(session: AsyncSession, since: datetime) -> dict[datetime, int]:
    """Episodes written per hour (``created_at``: when the server recorded them), in every
    tenant: the operator's dashboard."""
    hour = _hour(Episode.created_at).label("hour")
    statement = select(hour, func.count()).where(Episode.created_at >= since).group_by(hour)
    return await _counts(session, statement)


async def jobs_completed(session: AsyncSession, since: datetime) -> dict[datetime, int]:
    """Jobs that finished successfully, per hour of ``completed_at``."""
    hour = _hour(Job.completed_at).label("hour")
    done = and_(Job.status == job_repo.COMPLETED, Job.completed_at >= since)
    return await _counts(session, select(hour, func.count()).where(done).group_by(hour))


def _failed() -> ColumnElement[bool]:
    """Dead-lettered, or waiting for a retry after an error."""
    return or_(
        WebhookEvent.status == outbox.DEAD_LETTER,
        and_(WebhookEvent.status == outbox.PENDING, WebhookEvent.last_error.is_not(None)),
    )


_OUTCOME_STATUSES = (outbox.DELIVERED, outbox.DEAD_LETTER, outbox.PENDING)


async def webhook_outcomes(session: AsyncSession, since: datetime) -> dict[datetime, list[int]]:
    """``[delivered, failed]`` events per hour of their latest outcome: delivered at
    ``delivered_at``; failed (see :func:`_failed`) at their last attempt. An event counts
    once, by where it stands now (a delivery clears the error of earlier attempts)."""
    delivered = WebhookEvent.status == outbox.DELIVERED
    failed = _failed()
    at = func.coalesce(WebhookEvent.delivered_at, WebhookEvent.last_attempt_at)
    hour = _hour(at).label("hour")
    rows = await session.execute(
        select(hour, func.count().filter(delivered), func.count().filter(failed))
        .where(WebhookEvent.status.in_(_OUTCOME_STATUSES), or_(delivered, failed), at >= since)
        .group_by(hour)
    )
    return {at_hour: [int(ok), int(bad)] for at_hour, ok, bad in rows}


@dataclass(frozen=True)
class WebhookSummary:
    delivered: int
    failed: int
    last_delivered_at: datetime | None
    last_failed_at: datetime | None


async def webhook_summary(session: AsyncSession, since: datetime) -> WebhookSummary:
    """Events whose latest outcome since ``since`` was a delivery or a failure, and the
    newest delivery and failure ever recorded."""
    delivered = WebhookEvent.status == outbox.DELIVERED
    failed = _failed()
    row = (
        await session.execute(
            select(
                func.count().filter(delivered, WebhookEvent.delivered_at >= since),
                func.count().filter(failed, WebhookEvent.last_attempt_at >= since),
                func.max(WebhookEvent.delivered_at).filter(delivered),
                func.max(WebhookEvent.last_attempt_at).filter(failed),
            ).where(WebhookEvent.status.in_(_OUTCOME_STATUSES))
        )
    ).one()
    return WebhookSummary(int(row[0]), int(row[1]), row[2], row[3])


async def queue_depth(session: AsyncSession, first: datetime, samples: int) -> dict[datetime, int]:
    """Jobs waiting at each of ``samples`` instants an hour apart from ``first``: created by
    then and not yet started (``started_at`` is the latest start, else ``completed_at``); a
    job pending now counts as waiting since its creation. Purged jobs are not seen."""
    last = first + HOUR * (samples - 1)
    left = func.coalesce(Job.started_at, Job.completed_at)
    pending = Job.status == job_repo.PENDING
    relevant = (
        select(Job.id, Job.created_at, left.label("left"), pending.label("pending"))
        .where(Job.created_at <= last, or_(pending, left.is_(None), left > first))
        .subquery()
    )
    series = func.generate_series(first, last, HOUR).table_valued("at").render_derived("series")
    instant = series.c.at
    waiting = and_(
        relevant.c.created_at <= instant,
        or_(relevant.c.pending, relevant.c.left.is_(None), relevant.c.left > instant),
    )
    rows = await session.execute(
        select(instant, func.count(relevant.c.id))
        .select_from(series)
        .outerjoin(relevant, waiting)
        .group_by(instant)
    )
    return {at: int(n) for at, n in rows}
