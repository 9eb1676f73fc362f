"""Bodies of ``statewave webhooks list`` and ``statewave webhooks redrive``.

Exit codes and output as in :mod:`statewave_server.cli.output`.
"""

from __future__ import annotations

import uuid
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.cli import local, output
from statewave_server.db import webhooks as outbox
from statewave_server.db.models import WebhookEvent
from statewave_server.settings import Settings

_COLUMNS = ("id", "event", "tenant_id", "status", "attempts", "http_status", "next_attempt_at")


def _event_dict(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "event": event.event,
        "tenant_id": event.tenant_id,
        "status": event.status,
        "attempts": event.attempts,
        "max_attempts": event.max_attempts,
        "next_attempt_at": output.stamp(event.next_attempt_at),
        "last_attempt_at": output.stamp(event.last_attempt_at),
        "last_error": event.last_error,
        "http_status": event.http_status,
        "created_at": output.stamp(event.created_at),
        "delivered_at": output.stamp(event.delivered_at),
    }


def _events_table(rows: list[dict[str, Any]], total: int) -> Table:
    title = f"Webhook events ({len(rows)} of {total})"
    return output.rows_table(title, rows, _COLUMNS, "last_error")


async def list_webhooks_command(
    settings: Settings, status: str | None, limit: int, json_output: bool
) -> int:
    """Print the newest outbox rows (optionally one status)."""
    if status is not None and status not in outbox.STATUSES:
        return output.usage_error(
            f"Unknown status {status!r}; choose one of {', '.join(outbox.STATUSES)}"
        )

    async def fetch(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        page = await outbox.list_events(session, status=status, limit=limit)
        return [_event_dict(e) for e in page.events], page.total

    try:
        rows, total = await local.in_transaction(settings, fetch)
    except (SQLAlchemyError, OSError) as exc:
        return output.database_error(exc)
    if json_output:
        output.print_json({"count": len(rows), "total": total, "events": rows})
    else:
        Console().print(_events_table(rows, total))
    return 0


async def redrive_webhooks_command(
    settings: Settings, event_ids: list[str], all_dead: bool, json_output: bool
) -> int:
    """Return dead letters to the queue: the given ids, or every one with ``--all-dead``."""
    if bool(event_ids) == all_dead:
        return output.usage_error("Give --event-id (one or more) or --all-dead, not both.")
    try:
        ids = [uuid.UUID(value) for value in event_ids]
    except ValueError:
        return output.usage_error("Every --event-id must be a UUID.")

    async def run(session: AsyncSession) -> list[uuid.UUID]:
        return await outbox.redrive(session, event_ids=None if all_dead else ids)

    try:
        done = await local.in_transaction(settings, run)
    except (SQLAlchemyError, OSError) as exc:
        return output.database_error(exc)
    missed = [str(i) for i in ids if i not in set(done)]
    if json_output:
        report = {
            "redriven": len(done),
            "event_ids": [str(i) for i in done],
            "not_redriven": missed,
        }
        output.print_json(report)
    else:
        console = Console()
        console.print(f"Redrove {len(done)} dead-lettered webhook event(s) to pending.")
        for event_id in done:
            console.print(f"  {event_id}")
        if not settings.webhook_url:
            console.print("[yellow]STATEWAVE_WEBHOOK_URL is not set: nothing will deliver them.")
    if missed:
        Console(stderr=True).print(f"[red]Not dead-lettered or unknown:[/red] {', '.join(missed)}")
        return 1
    return 0
