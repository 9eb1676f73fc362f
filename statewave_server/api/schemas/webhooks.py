"""Wire models of ``/admin/webhooks``: outbox rows, pages, counts and redrive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebhookEventResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    tenant_id: str
    status: str
    attempts: int
    max_attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    http_status: int | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookEventDetail(WebhookEventResponse):
    payload: dict[str, Any]
    claimed_at: datetime | None


class WebhookEventsPage(BaseModel):
    events: list[WebhookEventResponse]
    total: int
    limit: int
    offset: int


class WebhookStats(BaseModel):
    pending: int
    delivering: int
    delivered: int
    dead_letter: int
    total: int


class RedriveRequest(BaseModel):
    """Either ``event_ids`` (dead letters to retry) or ``all_dead: true``, not both."""

    model_config = ConfigDict(extra="forbid")

    event_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=1000)
    all_dead: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> RedriveRequest:
        if (self.event_ids is None) == (not self.all_dead):
            raise ValueError('give either "event_ids" or "all_dead": true')
        return self


class RedriveResponse(BaseModel):
    redriven: int
    event_ids: list[uuid.UUID]
