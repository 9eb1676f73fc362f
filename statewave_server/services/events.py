"""Domain events announced through the webhook outbox (when webhooks are configured)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.webhooks import record_event


@dataclass(frozen=True)
class EventSink:
    """Writes outbox rows in the caller's transaction; a no-op with no webhook URL."""

    enabled: bool
    max_attempts: int = 5

    async def emit(
        self, session: AsyncSession, tenant_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if self.enabled:
            await record_event(session, tenant_id, event, data, max_attempts=self.max_attempts)
