"""The webhook outbox pages: list, one event, redrive and purge."""

from __future__ import annotations

import uuid
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.api.deps import DbDep, SettingsDep
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import DATA_PAGE, HtmlErrorRoute
from statewave_server.console.purge import PurgeChoice, PurgePage, purge_step
from statewave_server.console.web import (
    PAGE_SIZE,
    FormDep,
    Offset,
    TenantChoice,
    Text,
    list_page,
    log,
    notice_redirect,
    parse_uuid,
    render,
    tenant_choice,
)
from statewave_server.services.admin import activity
from statewave_server.services.admin import dashboard as dashboard_service
from statewave_server.services.admin import outbox as webhook_service

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute, dependencies=DATA_PAGE)

WEBHOOK_STATUSES: Final = ("pending", "delivering", "delivered", "dead_letter")


def _endpoint(url: str | None) -> str | None:
    """The webhook URL without credentials or query (safe to show on a page)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    status: Text = "",
    tenant_id: TenantChoice = None,
    event_type: Text = "",
    offset: Offset = 0,
) -> Response:
    chosen = status if status in WEBHOOK_STATUSES else None
    page = await webhook_service.list_events(
        db,
        status=chosen,
        event_type=event_type or None,
        tenant_id=tenant_choice(tenant_id),
        limit=PAGE_SIZE,
        offset=offset,
    )
    params: dict[str, str | int | None] = {
        "status": chosen,
        "tenant_id": tenant_id,
        "event_type": event_type,
    }
    return await list_page(
        request,
        "webhooks.html",
        db,
        tenant_id=tenant_id,
        total=page.total,
        offset=offset,
        params=params,
        title="Webhooks",
        events=page.events,
        stats=await webhook_service.stats(db),
        statuses=WEBHOOK_STATUSES,
        event_types=await dashboard_service.event_types(db),
        webhook_url_set=bool(settings.webhook_url),
        endpoint=_endpoint(settings.webhook_url),
        signing=settings.webhook_secret is not None
        and bool(settings.webhook_secret.get_secret_value()),
        summary=await activity.webhook_summary(db),
    )


@router.get("/webhooks/{event_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request, event_id: str, db: DbDep, settings: SettingsDep
) -> Response:
    """One outbox event: where it goes, what it says, its delivery state and every attempt."""
    detail = await webhook_service.get_event_detail(db, parse_uuid(event_id, "event"))
    event = detail.event
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    subject_id = data.get("subject_id") if isinstance(data, dict) else None
    return render(
        request,
        "webhook.html",
        title=f"Webhook event {event_id[:8]}",
        event=event,
        attempts=detail.attempts,
        attempt_log_missing=webhook_service.ATTEMPT_LOG_MISSING,
        subject_id=subject_id if isinstance(subject_id, str) else None,
        endpoint=_endpoint(settings.webhook_url),
    )


@router.post("/webhooks/redrive")
async def redrive_webhooks(request: Request, form: FormDep, db: DbDep) -> Response:
    """One dead letter (``event_id``) or all of them, back to the delivery queue."""
    event_id = form.get("event_id") or None
    ids: list[uuid.UUID] | None = None
    if event_id is not None:
        ids = [parse_uuid(event_id, "event", status_code=400)]
    done = await webhook_service.redrive(db, event_ids=ids)
    log.info("console_webhooks_redriven", count=len(done))
    return notice_redirect(request, "webhooks", "redriven", len(done))


WEBHOOKS_PURGE: Final = PurgePage(
    "webhooks", "webhook event(s)", "delivered or dead letter", "webhooks_purged"
)


@router.post("/webhooks/purge")
async def purge_webhooks(request: Request, form: FormDep, db: DbDep) -> Response:
    """Finished events matching the form: counted and shown first, deleted once confirmed."""

    async def purge(choice: PurgeChoice, dry_run: bool) -> int:
        return await dashboard_service.purge_webhook_events(
            db,
            status=choice.status,
            event_type=None,
            tenant_id=choice.tenant_id,
            older_than_hours=choice.older_than_hours,
            dry_run=dry_run,
        )

    return await purge_step(request, form, WEBHOOKS_PURGE, purge)
