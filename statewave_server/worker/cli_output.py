"""Plumbing shared by the ``statewave jobs …`` and ``statewave webhooks …`` command bodies.

Each command returns the process exit code: 0 success, 1 database failure, 2 bad arguments.
Humans get Rich tables; ``--json`` prints one JSON document on stdout for scripts. Here:
one committed transaction on a short-lived engine, ISO timestamps for JSON rows, a Rich
table of rows, and the error reports behind exit codes 1 and 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
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


def rows_table(
    title: str, rows: list[dict[str, Any]], columns: Sequence[str], error_column: str
) -> Table:
    """``columns`` of every row (``None`` shown blank), then ``error_column``, folded."""
    table = Table(title=title)
    for column in (*columns, error_column):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [str(row[c]) if row[c] is not None else "" for c in columns]
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
