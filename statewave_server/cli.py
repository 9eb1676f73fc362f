"""The ``statewave`` command line (also ``python -m statewave_server``).

Exit codes: 0 success; 1 failure or no-go (preflight); 2 usage error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from statewave_server.settings import get_settings

app = typer.Typer(
    name="statewave",
    help="Statewave memory runtime. Exit codes: 0 ok, 1 failure/no-go, 2 usage error.",
    no_args_is_help=True,
    add_completion=False,
)
jobs_app = typer.Typer(help="Inspect and repair durable compilation jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
db_app = typer.Typer(help="Database helpers for scripts such as ./start.sh.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8100).")] = None,
) -> None:
    """Run the API server (embedded PostgreSQL when no database URL is configured)."""
    from statewave_server.server_runner import serve as run_server

    run_server(get_settings(), host=host, port=port)


@app.command()
def worker() -> None:
    """Run a job worker until interrupted (SIGINT/SIGTERM finish the current job)."""
    from statewave_server.worker.runner import run_worker_process

    asyncio.run(run_worker_process(get_settings()))


@app.command()
def preflight(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the database against this version before an upgrade (exit 0 = go, 1 = no-go)."""
    from statewave_server.ops.preflight import run_preflight

    raise typer.Exit(run_preflight(get_settings(), as_json=json_output))


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent compilation jobs."""
    from statewave_server.worker.commands import list_jobs_command

    raise typer.Exit(asyncio.run(list_jobs_command(get_settings(), status, limit, json_output)))


@jobs_app.command("rescue")
def jobs_rescue(
    older_than_minutes: Annotated[
        float | None,
        typer.Option(help="Rescue running jobs silent for this long (default: orphan timeout)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Return orphaned running jobs to pending so a worker completes them."""
    from statewave_server.worker.commands import rescue_jobs_command

    raise typer.Exit(
        asyncio.run(rescue_jobs_command(get_settings(), older_than_minutes, json_output))
    )


@db_app.command("wait")
def db_wait(
    attempts: Annotated[int, typer.Option(min=1, help="Connection attempts.")] = 30,
) -> None:
    """Wait until the database accepts connections (exit 1 if it never does)."""
    from statewave_server.db.engine import resolve_database_url
    from statewave_server.logging import configure_logging
    from statewave_server.ops.wait import wait_for_database

    settings = get_settings()
    configure_logging(settings)
    url = resolve_database_url(settings)
    raise typer.Exit(0 if asyncio.run(wait_for_database(settings, url, attempts=attempts)) else 1)


def main() -> None:
    """Console-script entry point."""
    app()
