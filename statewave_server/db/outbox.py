"""The webhook outbox: rows written in the caller's transaction, delivered by workers.

Every function takes the caller's session and never commits. Times come from the database
clock so dispatchers on different hosts agree. Lifecycle of a row::

    pending ──claim──▶ delivering ──2xx──▶ delivered
       ▲                  │  └──4xx / last attempt──▶ dead_letter ──redrive──▶ pending
       └──retry (backoff)─┘

A claim is a lease: a ``delivering`` row whose ``claimed_at`` is older than the lease is
claimable again (its dispatcher crashed). Outcomes are recorded only by the claim that is
still current (``status = delivering`` and the same ``claimed_at``), so a dispatcher that
lost its lease cannot overwrite what the new owner recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import webhook_attempts
from statewave_server.db.models import WebhookEvent

PENDING: Final = "pending"
DELIVERING: Final = "delivering"
DELIVERED: Final = "delivered"
DEAD_LETTER: Final = "dead_letter"
STATUSES: Final = (PENDING, DELIVERING, DELIVERED, DEAD_LETTER)


@dataclass(frozen=True)
class EventPage:
    """One page of outbox rows (newest first) and how many rows match in all."""

    events: Sequence[WebhookEvent]
    total: int


async def record_event(
    session: AsyncSession,
    tenant_id: str,
    event: str,
    data: dict[str, Any],
    *,
    max_attempts: int | None = None,
) -> None:
    """Add an outbox row in the current transaction: it commits or rolls back with the
    change it announces, so no event is lost and none is sent for an undone change."""
    envelope = {
        "event": event,
        "timestamp": datetime.now(UTC).isoformat(),
        "tenant_id": tenant_id,
        "data": data,
    }
    values: dict[str, Any] = {"tenant_id": tenant_id, "event": event, "payload": envelope}
    if max_attempts is not None:
        values["max_attempts"] = max_attempts
    await session.execute(insert(WebhookEvent).values(**values))


def _claimable(lease_seconds: float) -> ColumnElement[bool]:
    """Due ``pending`` rows, and ``delivering`` rows whose claim lease ran out."""
    return or_(
        and_(WebhookEvent.status == PENDING, WebhookEvent.next_attempt_at <= func.now()),
        and_(
            WebhookEvent.status == DELIVERING,
            WebhookEvent.claimed_at < func.now() - timedelta(seconds=lease_seconds),
        ),
    )


def _current_claim(event_id: uuid.UUID, claimed_at: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookEvent.id == event_id,
        WebhookEvent.status == DELIVERING,
        WebhookEvent.claimed_at == claimed_at,
    )


async def claim_due(session: AsyncSession, limit: int, lease_seconds: float) -> list[WebhookEvent]:
    """Atomically take up to ``limit`` due rows (``SKIP LOCKED``: claimers never collide).

    Each claimed row is ``delivering`` with a fresh ``claimed_at`` and one more attempt.
    """
    due = (
        select(WebhookEvent.id)
        .where(_claimable(lease_seconds))
        .order_by(WebhookEvent.next_attempt_at, WebhookEvent.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(due))
        .values(
            status=DELIVERING,
            claimed_at=func.now(),
            last_attempt_at=func.now(),
            attempts=WebhookEvent.attempts + 1,
        )
        .returning(WebhookEvent)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list((await session.scalars(stmt)).all())
    claimed.sort(key=lambda row: (row.next_attempt_at, row.created_at))
    return claimed


async def mark_delivered(
    session: AsyncSession, event_id: uuid.UUID, claimed_at: datetime, http_status: int
) -> bool:
    """Record a 2xx; False (nothing changed) when the claim is no longer ours."""
    stmt = (
        update(WebhookEvent)
        .where(_current_claim(event_id, claimed_at))
        .values(
            status=DELIVERED,
            http_status=http_status,
            last_error=None,
            delivered_at=func.now(),
        )
        .returning(WebhookEvent.id)
    )
    return (await session.scalar(stmt)) is not None


async def mark_failed(
    session: AsyncSession,
    event_id: uuid.UUID,
    claimed_at: datetime,
    *,
    error: str,
    http_status: int | None,
    retry_delay_seconds: float,
    permanent: bool = False,
) -> str | None:
    """Record a failed attempt: ``pending`` again after the delay, or ``dead_letter`` when
    ``permanent`` or out of attempts. Returns the new status, None if the claim was lost."""
    dead = true() if permanent else WebhookEvent.attempts >= WebhookEvent.max_attempts
    retry_at = func.now() + timedelta(seconds=retry_delay_seconds)
    stmt = (
        update(WebhookEvent)
        .where(_current_claim(event_id, claimed_at))
        .values(
            status=case((dead, DEAD_LETTER), else_=PENDING),
            next_attempt_at=case((dead, WebhookEvent.next_attempt_at), else_=retry_at),
            claimed_at=case((dead, WebhookEvent.claimed_at), else_=None),
            last_error=error,
            http_status=http_status,
        )
        .returning(WebhookEvent.status)
    )
    return await session.scalar(stmt)


def _filters(
    status: str | None, event_type: str | None, tenant_id: str | None, id_prefix: str | None
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if id_prefix is not None:  # a short id: the start of the dashed text form
        clauses.append(cast(WebhookEvent.id, String).startswith(id_prefix, autoescape=True))
    if status is not None:
        clauses.append(WebhookEvent.status == status)
    if event_type is not None:
        clauses.append(WebhookEvent.event == event_type)
    if tenant_id is not None:
        clauses.append(WebhookEvent.tenant_id == tenant_id)
    return clauses


async def list_events(
    session: AsyncSession,
    *,
    status: str | None = None,
    event_type: str | None = None,
    tenant_id: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> EventPage:
    """Newest rows first, optionally filtered; ``total`` ignores paging."""
    clauses = _filters(status, event_type, tenant_id, id_prefix)
    rows = await session.scalars(
        select(WebhookEvent)
        .where(*clauses)
        .order_by(WebhookEvent.created_at.desc(), WebhookEvent.id)
        .limit(limit)
        .offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(WebhookEvent).where(*clauses))
    return EventPage(events=rows.all(), total=int(total or 0))


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent | None:
    """One outbox row by id."""
    return await session.get(WebhookEvent, event_id)


async def redrive(
    session: AsyncSession, *, event_ids: Collection[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Return dead letters (all of them, or only ``event_ids``) to ``pending``, due now, with
    their attempts reset. Ids that are unknown or not dead-lettered are left alone."""
    stmt = update(WebhookEvent).where(WebhookEvent.status == DEAD_LETTER)
    if event_ids is not None:
        stmt = stmt.where(WebhookEvent.id.in_(list(event_ids)))
    done = await session.scalars(
        stmt.values(status=PENDING, attempts=0, next_attempt_at=func.now(), claimed_at=None)
        .returning(WebhookEvent.id)
        .execution_options(synchronize_session=False)
    )
    return list(done)


async def stats(session: AsyncSession) -> dict[str, int]:
    """Row counts per status (every status present, zero when empty) plus ``total``."""
    rows = await session.execute(
        select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in rows:
        counts[status] = int(count)
    counts["total"] = sum(counts.values())
    return counts


async def purge_webhook_events(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    event_type: str | None,
    tenant_id: str | None,
    older_than: datetime | None,
    dry_run: bool = False,
) -> int:
    """Delete outbox rows in ``statuses`` matching every given filter, and their attempt
    log; the number deleted (with ``dry_run``: the number that would be, deleting nothing;
    one WHERE for both)."""
    clauses = [
        WebhookEvent.status.in_(list(statuses)),
        *_filters(None, event_type, tenant_id, None),
    ]
    if older_than is not None:
        clauses.append(WebhookEvent.created_at < older_than)
    if dry_run:
        count = select(func.count()).select_from(WebhookEvent).where(*clauses)
        return int(await session.scalar(count) or 0)
    deleted = list(
        await session.scalars(delete(WebhookEvent).where(*clauses).returning(WebhookEvent.id))
    )
    await webhook_attempts.delete_for_events(session, deleted)
    return len(deleted)
