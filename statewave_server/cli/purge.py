"""``jobs purge`` and ``webhooks purge``: count first, then delete only when confirmed.

The count and the delete are one service call (``dry_run`` or not), so what is announced
("would delete N …") is the delete's own filter. A person at a terminal is asked; a script
must say ``--yes``: with ``--json`` or without a terminal, no ``--yes`` is a refusal (exit 2),
never a silent delete.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from statewave_server.cli import output, remote

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Only count what would be deleted; delete nothing.")
]
OlderThanHours = Annotated[
    float | None,
    typer.Option(min=0, max=876_000, help="Only rows created more than this many hours ago."),
]

#: Counts (``dry_run=True``) or deletes the rows a filter matches, on the configured database.
LocalPurge = Callable[[bool], int]


def describe(filters: Mapping[str, Any], any_status: str) -> str:
    """The filter in words, as the console's confirmation page says it."""
    status = filters.get("status")
    tenant = filters.get("tenant_id")
    parts = [
        f"status {str(status).replace('_', ' ') if status else any_status}",
        f"tenant {'all tenants' if tenant is None else tenant or '(default)'}",
    ]
    parts += [f"{name} {filters[key]}" for key, name in _EXTRA if filters.get(key) is not None]
    if filters.get("older_than_hours") is not None:
        parts.append(f"older than {filters['older_than_hours']:g} hours")
    return ", ".join(parts)


_EXTRA = (("subject_id", "subject"), ("kind", "kind"), ("event_type", "event"))


def run(
    path: str,
    noun: str,
    any_status: str,
    filters: dict[str, Any],
    purge_locally: LocalPurge,
    *,
    yes: bool,
    dry_run: bool,
    json_output: bool,
) -> None:
    """Count, then (confirmed) delete; ``path`` is the ``/admin`` purge route for ``--url``."""
    server = remote.current()

    def purge(only_count: bool) -> int:
        if server is None:
            return purge_locally(only_count)
        answer = server.call("DELETE", path, params={**filters, "dry_run": only_count})
        return int(answer["matched"])

    what = f"{noun} ({describe(filters, any_status)})"
    matched = purge(True)
    if not dry_run and not yes and (json_output or not sys.stdin.isatty()):
        where = "with --json" if json_output else "without a terminal to confirm on"
        output.usage_error(
            f"Would delete {matched} {what}. Refusing {where}: pass --yes to delete, "
            "or --dry-run to only count."
        )
    if dry_run or matched == 0:
        line = f"Would delete {matched} {what}." if matched else f"Nothing to delete: no {what}."
        _report(json_output, line, matched=matched, deleted=0, dry_run=dry_run)
        return
    if not yes:
        typer.echo(f"Would delete {matched} {what}.")
        if not typer.confirm("Delete them?", default=False):
            remote.fail("nothing deleted")
    deleted = purge(False)
    _report(json_output, f"Deleted {deleted} {what}.", matched=deleted, deleted=deleted)


def _report(
    json_output: bool, line: str, *, matched: int, deleted: int, dry_run: bool = False
) -> None:
    """The API's ``Purged`` shape with ``--json``, else one line."""
    if json_output:
        output.print_json({"deleted": deleted, "matched": matched, "dry_run": dry_run})
    else:
        typer.echo(line)
