"""The webhook outbox: rows written in the caller's transaction, delivered by workers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import WebhookEvent


async def record_event(
    session: AsyncSession, tenant_id: str, event: str, data: dict[str, Any]
) -> None:
    """Add an outbox row in the current transaction: it commits or rolls back with the
    change it announces, so no event is lost and none is sent for an undone change."""
    envelope = {
        "event": event,
        "timestamp": datetime.now(UTC).isoformat(),
        "tenant_id": tenant_id,
        "data": data,
    }
    await session.execute(
        insert(WebhookEvent).values(tenant_id=tenant_id, event=event, payload=envelope)
    )
