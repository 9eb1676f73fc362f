"""``statewave backup`` and ``statewave restore`` (the runbook's backup step, and its undo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statewave_server.settings import Settings, get_settings

NO_DATABASE = (
    "No database configured: set STATEWAVE_DATABASE_URL (or DATABASE_URL, or a .env file), "
    "or pass --embedded for the embedded database"
)
Embedded = Annotated[
    bool, typer.Option("--embedded", help="With no URL configured, use the embedded database.")
]


def _url(settings: Settings, embedded: bool) -> str:
    from statewave_server.db.engine import resolve_database_url

    if settings.database_url is None and not embedded:
        typer.echo(NO_DATABASE, err=True)
        raise typer.Exit(1)
    return resolve_database_url(settings)


def register(app: typer.Typer) -> None:
    """Add the commands to the ``statewave`` app."""

    @app.command("backup")
    def backup_command(
        file: Annotated[
            Path | None, typer.Argument(help="Dump file (default backup_<UTC time>.dump).")
        ] = None,
        embedded: Embedded = False,
    ) -> None:
        """pg_dump -Fc of the configured database, with a client fit for its server; the
        file appears only once it has been read back."""
        from statewave_server.ops.backup import BackupError, backup

        try:
            outcome = backup(_url(get_settings(), embedded), file)
        except BackupError as exc:
            typer.echo(f"Backup failed: {exc}", err=True)
            raise typer.Exit(1) from None
        size = outcome.file.stat().st_size
        typer.echo(f"Backup written: {outcome.file} ({size} bytes, {outcome.entries} entries)")
        typer.echo(f"Equivalent command: {outcome.command}")
        typer.echo(f"Restore with: statewave restore {outcome.file}")

    @app.command("restore")
    def restore_command(
        file: Annotated[Path, typer.Argument(help="A dump written by `statewave backup`.")],
        clean: Annotated[
            bool, typer.Option("--clean", help="Drop the dump's objects first (non-empty DB).")
        ] = False,
        embedded: Embedded = False,
    ) -> None:
        """pg_restore a dump into the configured (empty) database, creating pgvector first."""
        from statewave_server.ops.backup import BackupError, restore

        try:
            outcome = restore(_url(get_settings(), embedded), file, clean=clean)
        except BackupError as exc:
            typer.echo(f"Restore failed: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Restored {outcome.entries} entries from {outcome.file}")
        typer.echo(f"Equivalent command: {outcome.command}")
        typer.echo("Next: python scripts/preflight.py (then `alembic upgrade head` if pending)")
