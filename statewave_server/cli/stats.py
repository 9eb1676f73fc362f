"""``statewave stats``: the job queue and the webhook outbox, counted per status.

The console dashboard's queue tiles for a terminal; on the database or, with ``--url``,
through ``/admin/jobs/stats`` and ``/admin/webhooks/stats``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from statewave_server.cli import local, output, remote
from statewave_server.services.admin import dashboard, outbox


async def _counts(db: local.Db) -> dict[str, dict[str, int]]:
    return {
        "jobs": await dashboard.job_stats(db),
        "webhooks": await outbox.stats(db),
    }


def stats(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Jobs and webhook events per status (dead ones are what to act on)."""
    server = remote.current()
    if server is not None:
        counts = {
            "jobs": server.call("GET", "/admin/jobs/stats"),
            "webhooks": server.call("GET", "/admin/webhooks/stats"),
        }
    else:
        counts = local.run(_counts)
    if json_output:
        output.print_json(counts)
        return
    table = Table(title="Queues")
    table.add_column("queue")
    table.add_column("status")
    table.add_column("count", justify="right")
    for queue, by_status in counts.items():
        for status, count in by_status.items():
            shown = output.cell("status", status) if status != "total" else "[bold]total[/bold]"
            table.add_row(queue, shown, str(count))
    output.show(table)


def register(app: typer.Typer) -> None:
    """Add ``stats`` to the ``statewave`` command."""
    app.command("stats")(stats)
