"""Bodies of ``statewave webhooks list`` and ``statewave webhooks redrive``.

Each returns the process exit code: 0 success, 1 database failure, 2 bad arguments.
Humans get Rich tables; ``--json`` prints one JSON document on stdout for scripts.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import webhooks as outbox
from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.db.models import WebhookEvent
from statewave_server.settings import Settings

T = TypeVar("T")

_COLUMNS = ("id", "event", "tenant_id", "status", "attempts", "http_status", "next_attempt_at")


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on a short-lived engine."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    database = Database.from_settings(settings, url)
    try:
        async with database.sessions() as session, session.begin():
            return await work(session)
    finally:
        await database.dispose()


def _database_error(exc: Exception) -> int:
    Console(stderr=True).print(f"[red]Database error:[/red] {exc}")
    return 1


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _event_dict(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "event": event.event,
        "tenant_id": event.tenant_id,
        "status": event.status,
        "attempts": event.attempts,
        "max_attempts": event.max_attempts,
        "next_attempt_at": _stamp(event.next_attempt_at),
        "last_attempt_at": _stamp(event.last_attempt_at),
        "last_error": event.last_error,
        "http_status": event.http_status,
        "created_at": _stamp(event.created_at),
        "delivered_at": _stamp(event.delivered_at),
    }


def _events_table(rows: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"Webhook events ({len(rows)} of {total})")
    for column in (*_COLUMNS, "last_error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [str(row[c]) if row[c] is not None else "" for c in _COLUMNS]
        table.add_row(*cells, row["last_error"] or "")
    return table


def _usage_error(message: str) -> int:
    Console(stderr=True).print(f"[red]{message}[/red]")
    return 2


async def list_webhooks_command(
    settings: Settings, status: str | None, limit: int, json_output: bool
) -> int:
    """Print the newest outbox rows (optionally one status)."""
    if status is not None and status not in outbox.STATUSES:
        return _usage_error(
            f"Unknown status {status!r}; choose one of {', '.join(outbox.STATUSES)}"
        )

    async def fetch(session: AsyncSession) -> tuple[list[dict[str, Any]], int]:
        page = await outbox.list_events(session, status=status, limit=limit)
        return [_event_dict(e) for e in page.events], page.total

    try:
        rows, total = await _in_transaction(settings, fetch)
    except (SQLAlchemyError, OSError) as exc:
        return _database_error(exc)
    if json_output:
        print(json.dumps({"count": len(rows), "total": total, "events": rows}, indent=2))
    else:
        Console().print(_events_table(rows, total))
    return 0


async def redrive_webhooks_command(
    settings: Settings, event_ids: list[str], all_dead: bool, json_output: bool
) -> int:
    """Return dead letters to the queue: the given ids, or every one with ``--all-dead``."""
    if bool(event_ids) == all_dead:
        return _usage_error("Give --event-id (one or more) or --all-dead, not both.")
    try:
        ids = [uuid.UUID(value) for value in event_ids]
    except ValueError:
        return _usage_error("Every --event-id must be a UUID.")

    async def run(session: AsyncSession) -> list[uuid.UUID]:
        return await outbox.redrive(session, event_ids=None if all_dead else ids)

    try:
        done = await _in_transaction(settings, run)
    except (SQLAlchemyError, OSError) as exc:
        return _database_error(exc)
    if json_output:
        print(json.dumps({"redriven": len(done), "event_ids": [str(i) for i in done]}, indent=2))
        return 0
    console = Console()
    console.print(f"Redrove {len(done)} dead-lettered webhook event(s) to pending.")
    for event_id in done:
        console.print(f"  {event_id}")
    if not settings.webhook_url:
        console.print("[yellow]STATEWAVE_WEBHOOK_URL is not set: nothing will deliver them.")
    return 0
