"""Plumbing shared by the ``statewave jobs …`` and ``statewave webhooks …`` command bodies.

Each command returns the process exit code: 0 success, 1 database failure, 2 bad arguments.
Humans get Rich tables; ``--json`` prints one JSON document on stdout for scripts. Here:
one committed transaction on a short-lived engine, ISO timestamps for JSON rows, a Rich
table of rows, and the error reports behind exit codes 1 and 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.settings import Settings

T = TypeVar("T")


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on a short-lived engine."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    database = Database.from_settings(settings, url)
    try:
        async with database.sessions() as session, session.begin():
            return await work(session)
    finally:
        await database.dispose()


def stamp(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 for JSON output (``None`` stays ``None``)."""
    return value.isoformat() if value else None


STATUS_STYLES = {
    "completed": "green",
    "delivered": "green",
    "pending": "yellow",
    "running": "cyan",
    "delivering": "cyan",
    "dead": "bold red",
    "dead_letter": "bold red",
}


def age(value: datetime | str | None, now: datetime | None = None) -> str:
    """A timestamp (or its ISO text) as a short relative age ("3d ago", "in 5m")."""
    if not value:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = int(((now or datetime.now(UTC)) - at).total_seconds())
    later, seconds = seconds < 0, abs(seconds)
    amount = f"{seconds}s"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            amount = f"{seconds // size}{unit}"
            break
    return f"in {amount}" if later else f"{amount} ago"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.endswith("_at"):
        return age(str(value))
    if column == "status":
        style = STATUS_STYLES.get(str(value))
        return f"[{style}]{value}[/{style}]" if style else str(value)
    return str(value)


def rows_table(
    title: str, rows: list[dict[str, Any]], columns: Sequence[str], error_column: str
) -> Table:
    """``columns`` of every row (ids whole, times relative, statuses coloured; ``None``
    blank), then ``error_column``, folded: readable at 100-120 columns."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column.removesuffix("_at"), no_wrap=True)
    table.add_column(error_column, overflow="fold", ratio=1)
    for row in rows:
        cells = [_cell(c, row[c]) for c in columns]
        table.add_row(*cells, row[error_column] or "")
    return table


def database_error(exc: Exception) -> int:
    """Report a database failure on stderr; exit code 1."""
    Console(stderr=True).print(f"[red]Database error:[/red] {exc}")
    return 1


def usage_error(message: str) -> int:
    """Report bad arguments on stderr; exit code 2."""
    Console(stderr=True).print(f"[red]{message}[/red]")
    return 2
