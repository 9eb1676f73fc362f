"""``/admin/webhooks``: list, inspect and count outbox rows; redrive dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from statewave_server.api.deps import SessionsDep
from statewave_server.api.schemas.common import Offset
from statewave_server.services import webhooks as service

router = APIRouter(prefix="/admin/webhooks", tags=["admin"])

WebhookStatus = Literal["pending", "delivering", "delivered", "dead_letter"]


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


@router.get("", response_model=WebhookEventsPage)
async def list_webhook_events(
    sessions: SessionsDep,
    status: WebhookStatus | None = None,
    event_type: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    tenant_id: Annotated[str | None, Query(max_length=256)] = None,
    id_prefix: Annotated[
        str | None, Query(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Offset = 0,
) -> WebhookEventsPage:
    """Outbox rows across tenants, newest first (``id_prefix``: the rows a short id names)."""
    page = await service.list_events(
        sessions,
        status=status,
        event_type=event_type,
        tenant_id=tenant_id,
        id_prefix=id_prefix,
        limit=limit,
        offset=offset,
    )
    return WebhookEventsPage(
        events=[WebhookEventResponse.model_validate(e) for e in page.events],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/stats", response_model=WebhookStats)
async def webhook_stats(sessions: SessionsDep) -> WebhookStats:
    """Row counts per delivery status."""
    return WebhookStats(**await service.stats(sessions))


@router.post("/redrive", response_model=RedriveResponse)
async def redrive_webhooks(body: RedriveRequest, sessions: SessionsDep) -> RedriveResponse:
    """Queue dead letters again (attempts reset, due now); other ids are ignored."""
    done = await service.redrive(sessions, event_ids=None if body.all_dead else body.event_ids)
    return RedriveResponse(redriven=len(done), event_ids=done)


@router.get("/{event_id}", response_model=WebhookEventDetail)
async def get_webhook_event(event_id: uuid.UUID, sessions: SessionsDep) -> WebhookEventDetail:
    """One row with its payload; 404 when unknown."""
    return WebhookEventDetail.model_validate(await service.get_event(sessions, event_id))
