"""The ``statewave`` command line (also ``python -m statewave_server``).

Exit codes: 0 success; 1 failure or no-go (preflight); 2 usage error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from statewave_server import __version__
from statewave_server.cli import remote
from statewave_server.cli.admin import register as register_admin_cli
from statewave_server.cli.data import register as register_data_cli
from statewave_server.cli.help import hide_flag_types
from statewave_server.cli.jobs import jobs_app
from statewave_server.cli.mcp import register as register_mcp_cli
from statewave_server.cli.memories import memories_app
from statewave_server.cli.ops import register as register_ops_cli
from statewave_server.cli.stats import register as register_stats_cli
from statewave_server.cli.webhooks import webhooks_app
from statewave_server.settings import get_settings

hide_flag_types()
app = typer.Typer(
    name="statewave",
    help="Statewave memory runtime. Exit codes: 0 ok, 1 failure/no-go, 2 usage error.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(webhooks_app, name="webhooks")
db_app = typer.Typer(help="Database helpers for scripts such as ./start.sh.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"statewave {__version__}")
        raise typer.Exit(0)


@app.callback()
def _setup(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="STATEWAVE_URL",
            show_default=False,
            help="Run jobs, webhooks, stats, subjects, search, context, memories, export and "
            "import against this server's API instead of the database.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="STATEWAVE_API_KEY", show_default=False, help="X-API-Key sent with --url."
        ),
    ] = None,
) -> None:
    """Logs (the embedded database's start-up included) go to stderr, never stdout."""
    from statewave_server.cli.setup import send_logs_to_stderr

    remote.choose(url, api_key)
    send_logs_to_stderr(get_settings())


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Bind address (default: 127.0.0.1, or 0.0.0.0 with an API key)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8100).")] = None,
) -> None:
    """Run the API server (embedded PostgreSQL when no database URL is configured)."""
    from statewave_server.cli.serve import serve as run_server

    run_server(get_settings(), host=host, port=port)


@app.command()
def worker() -> None:
    """Run a job worker until interrupted (SIGINT/SIGTERM finish the current job)."""
    from statewave_server.worker.runner import run_worker_process

    asyncio.run(run_worker_process(get_settings()))


EmbeddedOption = Annotated[
    bool,
    typer.Option("--embedded", help="With no database URL configured, use the embedded database."),
]


@app.command()
def preflight(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    embedded: EmbeddedOption = False,
    app_version: Annotated[
        str | None,
        typer.Option(help="Judge the database for this app version (e.g. a rollback target)."),
    ] = None,
) -> None:
    """Check the database against this version before an upgrade (exit 0 = go, 1 = no-go)."""
    from statewave_server.cli.preflight_view import print_report
    from statewave_server.ops.preflight import run_preflight

    raise typer.Exit(
        run_preflight(
            get_settings(),
            as_json=json_output,
            embedded=embedded,
            app_version=app_version or __version__,
            show_text=print_report,
        )
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


@db_app.command("migrate-on-start")
def db_migrate_on_start() -> None:
    """What ./start.sh runs: migrate the embedded database, or an external one only when
    STATEWAVE_MIGRATE_ON_START is set (a restart must not undo a rollback)."""
    from statewave_server.logging import configure_logging
    from statewave_server.ops.start_migration import migrate_on_start

    settings = get_settings()
    configure_logging(settings)
    raise typer.Exit(migrate_on_start(settings))


embeddings_app = typer.Typer(help="Embedding maintenance.", no_args_is_help=True)
app.add_typer(embeddings_app, name="embeddings")


@embeddings_app.command("backfill")
def embeddings_backfill(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=4096, help="Memories per embedding call.")
    ] = 64,
    json_output: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Embed memories that have no vector from the configured model (NULL or another model)."""
    from statewave_server.cli.embeddings import backfill_command

    raise typer.Exit(asyncio.run(backfill_command(get_settings(), batch_size, json_output)))


migrate_app = typer.Typer(
    help="Schema migrations (Alembic, with the migration lock, timeouts and audit).",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")


@migrate_app.callback()
def migrate_options(ctx: typer.Context, embedded: EmbeddedOption = False) -> None:
    """Schema migrations on the configured database (``--embedded``: the embedded one)."""
    ctx.obj = {"embedded": embedded}


def _run_alembic(ctx: typer.Context, name: str, *args: Any, **kwargs: Any) -> None:
    """Run ``alembic.command.<name>`` with the packaged config; exit 1 on failure."""
    from alembic.util import CommandError

    from alembic import command
    from statewave_server.db.migrate import alembic_config

    embedded = isinstance(ctx.obj, dict) and bool(ctx.obj.get("embedded"))  # migrate_options
    try:
        getattr(command, name)(alembic_config(embedded=embedded), *args, **kwargs)
    except CommandError as exc:
        typer.echo(f"Migration error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # a database outage, a failing revision, a lock timeout
        typer.echo(f"Migration failed: {type(exc).__name__}: {str(exc)[:500]}", err=True)
        raise typer.Exit(1) from None


SqlOption = Annotated[
    bool, typer.Option("--sql", help="Print the SQL instead of running it (offline).")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show each revision's path, parent and date.")
]


@migrate_app.command("upgrade")
def migrate_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    sql: SqlOption = False,
) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    _run_alembic(ctx, "upgrade", revision, sql=sql)


# ``ignore_unknown_options`` lets relative targets such as ``-1`` pass as the argument.
@migrate_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def migrate_downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    sql: SqlOption = False,
) -> None:
    """Downgrade the schema to REVISION (may drop data; take a backup first)."""
    _run_alembic(ctx, "downgrade", revision, sql=sql)


@migrate_app.command("current")
def migrate_current(
    ctx: typer.Context,
    verbose: VerboseOption = False,
) -> None:
    """Show the database's current revision."""
    _run_alembic(ctx, "current", verbose=verbose)


@migrate_app.command("history")
def migrate_history(
    ctx: typer.Context,
    rev_range: Annotated[
        str | None, typer.Option("--rev-range", "-r", help="e.g. base:head")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """List the revisions (no database needed)."""
    _run_alembic(ctx, "history", rev_range=rev_range, verbose=verbose)


@app.command()
def bench(
    url: Annotated[
        str, typer.Option(envvar="STATEWAVE_URL", help="Base URL of the running server.")
    ] = "http://localhost:8100",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="STATEWAVE_API_KEY", show_default=False, help="X-API-Key to send."),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="X-Tenant-ID to send (default: none).")] = None,
    episodes: Annotated[int, typer.Option(min=1, help="Synthetic messages to ingest.")] = 2000,
    subjects: Annotated[int, typer.Option(min=1, help="Subjects to spread them over.")] = 20,
    queries: Annotated[int, typer.Option(min=1, help="Context and search calls to time.")] = 100,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Concurrent clients.")] = 4,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the bench subjects.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Load-probe a running server: ingest, compile, then time context and search calls.

    Bench subjects (bench-<run id>-<i>) are deleted at the end unless --keep.
    Exit codes: 0 every request succeeded; 1 a request failed or the server is
    unreachable; 2 usage error.
    """
    from statewave_server.cli.bench import BenchConfig, bench_command

    config = BenchConfig(
        url=url,
        api_key=api_key,
        tenant=tenant,
        episodes=episodes,
        subjects=subjects,
        queries=queries,
        concurrency=concurrency,
        keep=keep,
    )
    raise typer.Exit(asyncio.run(bench_command(config, json_output)))


register_admin_cli(app)
register_ops_cli(app)
register_stats_cli(app)
app.add_typer(memories_app, name="memories")
register_data_cli(app)
register_mcp_cli(app)


def main() -> None:
    """Console-script entry point."""
    app()
