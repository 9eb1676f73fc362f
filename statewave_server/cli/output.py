"""How ``statewave`` commands print: JSON for scripts, Rich tables for people, errors on stderr.

Commands exit 0 on success, 1 on failure, 2 on bad arguments. ``--json`` prints one JSON
document on stdout; tables show relative times and coloured statuses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

#: The ``--json`` switch of every command that prints a table or a summary by default.
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
#: The tenant filter of the list and purge commands ('' is the default tenant).
TenantFilter = Annotated[str | None, typer.Option(help="Only this tenant ('' = default).")]


def print_json(data: Any) -> None:
    """One JSON document on stdout (timestamps and UUIDs as text)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


STATUS_STYLES = {
    "completed": "green",
    "delivered": "green",
    "pending": "yellow",
    "running": "cyan",
    "delivering": "cyan",
    "dead": "bold red",
    "dead_letter": "bold red",
    "healthy": "green",
    "watch": "yellow",
    "at_risk": "bold red",
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


def cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key.endswith("_at"):
        return age(str(value))
    if key == "status":
        style = STATUS_STYLES.get(str(value))
        return f"[{style}]{value}[/{style}]" if style else str(value)
    if key.endswith("id") and key != "subject_id":
        return short(value)
    return escape(str(value))


def short(value: object) -> str:
    """The first 8 characters of an id, as tables show it (any unique prefix is accepted)."""
    return str(value)[:8]


def rows_table(
    title: str,
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    error_key: str,
) -> Table:
    """``columns`` ((heading, key) pairs) of every row, then ``error_key`` folded into the
    remaining width: 8-character ids, relative times, coloured statuses, ``None`` blank,
    long subject ids cut; readable at 100-120 columns."""
    table = Table(title=title)
    for heading, key in columns:
        cut = key == "subject_id"
        table.add_column(heading, no_wrap=True, overflow="ellipsis", max_width=24 if cut else None)
    table.add_column(error_key.replace("_", " "), overflow="fold", ratio=1)
    for row in rows:
        cells = [cell(key, row.get(key)) for _, key in columns]
        table.add_row(*cells, escape(row.get(error_key) or ""))
    return table


def show(renderable: Any) -> None:
    """Print a table on stdout (colour only on a terminal, and never with ``NO_COLOR``)."""
    Console().print(renderable)


def show_record(
    title: str,
    record: dict[str, Any],
    json_keys: Sequence[str],
    *,
    json_output: bool,
    tables: Mapping[str, Callable[[Any], None]] | None = None,
) -> None:
    """One record (a ``show`` command's): with ``--json`` the whole document; else its
    ``key: value`` lines (times with their age), its JSON documents (``json_keys``), then
    each of ``tables`` printed by its function (given ``None`` when the key is absent)."""
    if json_output:
        print_json(record)
        return
    tables = tables or {}
    console = Console()
    console.print(f"[bold]{escape(title)}[/bold]")
    for key, value in record.items():
        if key in json_keys or key in tables or value is None:
            continue
        shown = cell(key, value) if key == "status" else escape(str(value))
        if key.endswith("_at"):
            shown += f" ({age(str(value))})"
        console.print(f"  {key}: {shown}", soft_wrap=True)
    for key in json_keys:
        console.print(f"[bold]{key}[/bold]")
        console.print_json(json.dumps(record.get(key), default=str))
    for key, show_table in tables.items():
        show_table(record.get(key))


def echo_ids(values: Sequence[object]) -> None:
    """One id a line, indented, under a summary line."""
    for value in values:
        typer.echo(f"  {value}")


def usage_error(message: str) -> NoReturn:
    """Report bad arguments on stderr; exit code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)
