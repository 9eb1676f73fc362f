"""``statewave export`` / ``import`` / ``packs``: subject backups and starter packs.

``register(app)`` adds the commands to the main Typer app. Exit codes: 0 success,
1 failure (database, bad document, conflict), 2 usage error.
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table

from statewave_server.cli import remote
from statewave_server.cli.local import run
from statewave_server.cli.output import Json, print_json, show
from statewave_server.services.admin.targets import ConflictStrategy
from statewave_server.services.runtime import build_embedder
from statewave_server.settings import get_settings


class ExportFormat(enum.StrEnum):
    """Backup document formats `statewave export` writes."""

    CURRENT = "2.0"
    ORIGINAL = "1.0"


def export_command(
    subject_id: Annotated[str, typer.Argument(help="The subject to export.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id ('' = default).")] = "",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    format_version: Annotated[
        ExportFormat,
        typer.Option(
            "--format-version",
            help="2.0 (lossless) or 1.0 (the original Statewave's format, to move back to it).",
        ),
    ] = ExportFormat.CURRENT,
) -> None:
    """Write a checksummed backup of one subject (JSON)."""
    from statewave_server.services.admin.backup import export_subject

    server = remote.current()
    if server is not None:
        params = {"tenant_id": tenant, "format_version": format_version.value}
        document = server.call("GET", f"/admin/export/{quote(subject_id)}", params=params)
    else:
        document = run(
            lambda db: export_subject(
                db,
                tenant_id=tenant,
                subject_id=subject_id,
                format_version=format_version.value,
            )
        )
    text = json.dumps(document, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        counts = document["counts"]
        resolutions = f", {counts['resolutions']} resolution(s)" if "resolutions" in counts else ""
        typer.echo(
            f"Exported {counts['episodes']} episode(s), {counts['memories']} memory(ies)"
            f"{resolutions} to {output}",
            err=True,
        )


def _report_import(result: dict[str, Any], json_output: bool) -> None:
    """What an import did: the API's shape with ``--json``, otherwise one line a person reads."""
    if json_output:
        print_json(result)
        return
    tenant = result["tenant_id"] or "(default)"
    fresh = "kept their ids" if result["ids_preserved"] else "got fresh ids"
    typer.echo(
        f"Imported into subject '{result['subject_id']}' (tenant {tenant}): "
        f"{result['episodes_imported']} episode(s) ({result['episodes_skipped']} already "
        f"there), {result['memories_imported']} memory(ies) ({result['memories_skipped']} "
        f"already there), {result['resolutions_imported']} resolution(s); "
        f"{result['memories_embedded']} memory(ies) embedded; rows {fresh}."
    )


def import_command(
    file: Annotated[Path, typer.Argument(help="A file written by 'statewave export'.")],
    target_subject: Annotated[
        str | None, typer.Option("--target-subject", help="Restore under this subject id.")
    ] = None,
    target_tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant", "--target-tenant", help="Restore into this tenant ('' = default)."
        ),
    ] = None,
    remap_ids: Annotated[
        bool, typer.Option("--remap-ids", help="Give every row a fresh id (copying).")
    ] = False,
    json_output: Json = False,
) -> None:
    """Restore a backup (checksum verified; re-importing the same file adds nothing)."""
    from statewave_server.services.admin.backup import import_document

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"Cannot read {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    server = remote.current()
    if server is not None:
        body = {
            "document": document,
            "target_subject_id": target_subject,
            "target_tenant_id": target_tenant,
            "preserve_ids": not remap_ids,
        }
        _report_import(server.call("POST", "/admin/import", body=body), json_output)
        return
    settings = get_settings()
    embedder = build_embedder(settings)
    result = run(
        lambda db: import_document(
            db,
            embedder,
            document,
            target_subject_id=target_subject,
            target_tenant_id=target_tenant,
            preserve_ids=not remap_ids,
        ),
        settings,
    )
    _report_import(asdict(result), json_output)


packs_app = typer.Typer(help="Starter packs shipped with Statewave.", no_args_is_help=True)


@packs_app.command("list")
def packs_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the bundled starter packs."""
    from statewave_server.services.admin.packs import list_packs

    packs = list_packs()
    if json_output:
        print_json(packs)
        return
    table = Table(title=f"Starter packs ({len(packs)})")
    for heading in ("pack", "version", "episodes", "memories", "description"):
        table.add_column(heading, no_wrap=heading != "description", overflow="fold")
    for pack in packs:
        numbers = (str(pack["version"]), str(pack["episode_count"]), str(pack["memory_count"]))
        table.add_row(escape(pack["pack_id"]), *numbers, escape(pack["display_name"]))
    show(table)


@packs_app.command("import")
def packs_import(
    pack_id: Annotated[str, typer.Argument(help="A pack id from 'statewave packs list'.")],
    target_subject: Annotated[
        str | None, typer.Option("--target-subject", help="Import into this subject.")
    ] = None,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id ('' = default).")] = "",
    strategy: Annotated[
        str, typer.Option("--conflict-strategy", help="create_copy, merge or cancel.")
    ] = "create_copy",
    json_output: Json = False,
) -> None:
    """Import a starter pack (memories are embedded with the configured model)."""
    from statewave_server.services.admin.packs import import_pack

    if strategy not in ("create_copy", "merge", "cancel"):
        typer.echo("--conflict-strategy must be create_copy, merge or cancel", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    embedder = build_embedder(settings)
    done = run(
        lambda db: import_pack(
            db,
            embedder,
            pack_id,
            target_subject_id=target_subject,
            target_tenant_id=tenant,
            conflict_strategy=cast(ConflictStrategy, strategy),
        ),
        settings,
    )
    if json_output:
        print_json({"pack_id": done.pack_id, **asdict(done.result)})
        return
    typer.echo(f"Starter pack '{done.pack_id}' ({done.conflict_strategy}):")
    _report_import(asdict(done.result), json_output=False)


def register(app: typer.Typer) -> None:
    """Add ``export``, ``import`` and ``packs`` to the ``statewave`` command."""
    app.command("export")(export_command)
    app.command("import")(import_command)
    app.add_typer(packs_app, name="packs")
