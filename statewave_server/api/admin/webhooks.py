"""``/admin/webhooks``: list, inspect and count outbox rows; redrive dead letters."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from statewave_server.api.deps import DbDep
from statewave_server.api.schemas.admin import (
    RedriveRequest,
    RedriveResponse,
    WebhookEventDetail,
    WebhookEventResponse,
    WebhookEventsPage,
    WebhookStats,
)
from statewave_server.api.schemas.common import Offset
from statewave_server.services.admin import outbox as service

router = APIRouter(prefix="/admin/webhooks", tags=["admin"])

WebhookStatus = Literal["pending", "delivering", "delivered", "dead_letter"]


@router.get("", response_model=WebhookEventsPage)
async def list_webhook_events(
    db: DbDep,
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
        db,
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
async def webhook_stats(db: DbDep) -> WebhookStats:
    """Row counts per delivery status."""
    return WebhookStats(**await service.stats(db))


@router.post("/redrive", response_model=RedriveResponse)
async def redrive_webhooks(body: RedriveRequest, db: DbDep) -> RedriveResponse:
    """Queue dead letters again (attempts reset, due now); other ids are ignored."""
    done = await service.redrive(db, event_ids=None if body.all_dead else body.event_ids)
    return RedriveResponse(redriven=len(done), event_ids=done)


@router.get("/{event_id}", response_model=WebhookEventDetail)
async def get_webhook_event(event_id: uuid.UUID, db: DbDep) -> WebhookEventDetail:
    """One row with its payload and attempt log; 404 when unknown."""
    detail = await service.get_event_detail(db, event_id)
    return WebhookEventDetail.of(detail.event, detail.attempts)
