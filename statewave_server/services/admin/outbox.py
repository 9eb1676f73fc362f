"""The webhook outbox's administration: list, inspect, count and redrive deliveries.

Each call owns one transaction; the admin API, the console and the CLI share them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import outbox as outbox_repo
from statewave_server.db import webhook_attempts
from statewave_server.db.models import WebhookEvent
from statewave_server.errors import NotFound


async def list_events(
    db: async_sessionmaker[AsyncSession],
    *,
    status: str | None = None,
    event_type: str | None = None,
    tenant_id: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> outbox_repo.EventPage:
    """A page of outbox rows, newest first (``id_prefix``: the rows a short id names)."""
    async with db() as session:
        return await outbox_repo.list_events(
            session,
            status=status,
            event_type=event_type,
            tenant_id=tenant_id,
            id_prefix=id_prefix,
            limit=limit,
            offset=offset,
        )


ATTEMPT_LOG_MISSING = (
    f"the {webhook_attempts.ATTEMPTS_TABLE} table does not exist yet; run "
    "`alembic upgrade head` once to create it (deliveries are not affected)"
)


@dataclass(frozen=True)
class EventDetail:
    """An outbox row and its attempt log (None: the log's table does not exist yet)."""

    event: WebhookEvent
    attempts: list[dict[str, Any]] | None


async def get_event_detail(
    db: async_sessionmaker[AsyncSession], event_id: uuid.UUID
) -> EventDetail:
    """One outbox row with every recorded attempt, oldest first, or :class:`NotFound`."""
    async with db() as session:
        event = await outbox_repo.get_event(session, event_id)
        if event is None:
            raise NotFound("Webhook event not found")
        try:
            attempts: list[dict[str, Any]] | None = await webhook_attempts.list_for_event(
                session, event_id
            )
        except webhook_attempts.AttemptLogMissing:
            attempts = None
    return EventDetail(event=event, attempts=attempts)


async def stats(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Counts per delivery status plus ``total``."""
    async with db() as session:
        return await outbox_repo.stats(session)


async def redrive(
    db: async_sessionmaker[AsyncSession],
    *,
    event_ids: Collection[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Return dead letters (``event_ids``, or all when None) to the queue; ids redriven."""
    async with db() as session, session.begin():
        return await outbox_repo.redrive(session, event_ids=event_ids)
