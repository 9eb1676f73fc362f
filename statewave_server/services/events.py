"""Domain events announced through the webhook outbox (when webhooks are configured)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.outbox import record_event
from statewave_server.settings import Settings


@dataclass(frozen=True)
class EventSink:
    """Writes outbox rows in the caller's transaction; a no-op with no webhook URL."""

    enabled: bool
    max_attempts: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> EventSink:
        """Enabled when a webhook URL is configured (the outbox has a destination)."""
        return cls(enabled=bool(settings.webhook_url), max_attempts=settings.webhook_max_attempts)

    async def emit(
        self, session: AsyncSession, tenant_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if self.enabled:
            await record_event(session, tenant_id, event, data, max_attempts=self.max_attempts)
