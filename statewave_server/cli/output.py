"""How ``statewave`` commands print: JSON for scripts, Rich tables for people, errors on stderr.

Commands exit 0 on success, 1 on failure, 2 on bad arguments. ``--json`` prints one JSON
document on stdout; tables show relative times and coloured statuses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def print_json(data: Any) -> None:
    """One JSON document on stdout (timestamps and UUIDs as text)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
