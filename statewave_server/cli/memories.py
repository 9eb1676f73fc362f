"""``statewave memories retire|correct``: fix one wrong memory from a terminal.

The same service as ``POST /admin/memories/{id}/retire|correct`` and the console's forms:
audited (actor ``cli:<user>``), announced as a webhook event. Exit codes: 0 done, 1
unknown or not active memory (or a database or server failure), 2 usage error. With
``--url`` the edit goes through the server (the audit names ``cli:<user>`` all the same).
"""

from __future__ import annotations

import getpass
import uuid
from typing import Annotated

import typer

from statewave_server.api.schemas.admin import MemoryEditResponse
from statewave_server.cli import ids, remote
from statewave_server.cli.local import run
from statewave_server.cli.output import print_json
from statewave_server.services.admin import memory_edits
from statewave_server.services.events import EventSink
from statewave_server.services.runtime import build_embedder
from statewave_server.settings import get_settings

memories_app = typer.Typer(help="Retire or correct one memory (audited).", no_args_is_help=True)

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id ('' = default).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")]
Json = Annotated[bool, typer.Option("--json", help="Print the edited memory as JSON.")]


def _memory_id(raw: str, tenant: str) -> uuid.UUID:
    """A whole memory id from an id or a unique prefix of one in ``tenant``."""

    def matches(prefix: str) -> list[str]:
        server = remote.current()
        if server is not None:
            params = {"id_prefix": prefix, "tenant_id": tenant}
            return [str(i) for i in server.call("GET", "/admin/memories", params=params)["ids"]]
        found = run(lambda db: memory_edits.ids_starting_with(db, tenant, prefix))
        return [str(i) for i in found]

    return uuid.UUID(ids.resolve(raw, "memory", _is_uuid, matches))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) >= 32


def _reason(raw: str) -> str:
    reason = raw.strip()
    if not 1 <= len(reason) <= 500:
        typer.echo("--reason must be 1 to 500 characters.", err=True)
        raise typer.Exit(2)
    return reason


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _remote(memory_id: uuid.UUID, action: str, body: dict[str, str]) -> MemoryEditResponse | None:
    """With ``--url``: the edit through ``POST /admin/memories/{id}/<action>``, audited under
    this user; ``None`` when the command works on the database."""
    server = remote.current()
    if server is None:
        return None
    answer = server.call(
        "POST",
        f"/admin/memories/{memory_id}/{action}",
        body=body,
        headers={"X-Statewave-Operator-Email": _actor()},
    )
    return MemoryEditResponse.model_validate(answer)


def _local(edit: memory_edits.MemoryEdit) -> MemoryEditResponse:
    return MemoryEditResponse.model_validate(
        {"memory": edit.memory, "replacement": edit.replacement}, from_attributes=True
    )


def _report(response: MemoryEditResponse, json_output: bool) -> None:
    if json_output:
        print_json(response.model_dump(mode="json"))
        return
    memory = response.memory
    typer.echo(f"Memory {memory.id} is now {memory.status}.")
    if response.replacement is not None:
        typer.echo(f"Replaced by {response.replacement.id}: {response.replacement.content}")


@memories_app.command("retire")
def retire(memory_id: str, reason: Reason, tenant: Tenant = "", json_output: Json = False) -> None:
    """Take one memory out of use (context and search stop using it)."""
    why = _reason(reason)
    parsed = _memory_id(memory_id, tenant)
    response = _remote(parsed, "retire", {"reason": why, "tenant_id": tenant})
    if response is None:
        settings = get_settings()
        edit = run(
            lambda db: memory_edits.retire_memory(
                db,
                EventSink.from_settings(settings),
                tenant,
                parsed,
                reason=why,
                actor=_actor(),
            ),
            settings,
        )
        response = _local(edit)
    _report(response, json_output)


@memories_app.command("correct")
def correct(
    memory_id: str,
    content: Annotated[str, typer.Argument(help="The corrected content.")],
    reason: Reason,
    tenant: Tenant = "",
    json_output: Json = False,
) -> None:
    """Supersede one memory with new content (same kind and sources)."""
    why = _reason(reason)
    parsed = _memory_id(memory_id, tenant)
    body = {"content": content, "reason": why, "tenant_id": tenant}
    response = _remote(parsed, "correct", body)
    if response is None:
        settings = get_settings()
        embedder = build_embedder(settings)
        edit = run(
            lambda db: memory_edits.correct_memory(
                db,
                EventSink.from_settings(settings),
                embedder,
                tenant,
                parsed,
                content=content,
                reason=why,
                actor=_actor(),
            ),
            settings,
        )
        response = _local(edit)
    _report(response, json_output)
