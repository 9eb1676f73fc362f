"""Data commands for integrators: ``statewave subjects``, ``search`` and ``context``.

They answer "what does Statewave hold, and what would my agent get for this task?" from a
terminal, through the same services as ``/admin/subjects``, ``/v1/memories/search`` and
``/v1/context`` or, with ``--url``, through those routes of a running server (``context``
prints the exact ``assembled_context``). Exit codes: 0 done, 1 database or server failure,
2 usage error.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from statewave_server.cli import remote
from statewave_server.cli.local import run
from statewave_server.cli.output import Json, age, cell, print_json, short
from statewave_server.settings import get_settings

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id ('' = default).")]


def _subjects(
    search: str | None, tenant: str | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The most recently active subjects (the API's shape), from the database or ``--url``."""
    server = remote.current()
    if server is not None:
        params = {"search": search, "tenant_id": tenant}
        return server.page("/admin/subjects", "subjects", params, limit, page_size=200)
    from statewave_server.api.schemas.admin import SubjectItem
    from statewave_server.services.admin.subjects import ExplorerFilter, explore

    filters = ExplorerFilter(search=search, tenant_id=tenant)
    rows, total = run(lambda db: explore(db, filters, limit=limit))
    return [SubjectItem.model_validate(row).model_dump(mode="json") for row in rows], total


def subjects(
    search: Annotated[
        str | None, typer.Option(help="Id or memory content contains this (a name, an e-mail).")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 50,
    json_output: Json = False,
) -> None:
    """List subjects, the most recently active first."""
    rows, total = _subjects(search or None, tenant, limit)
    if json_output:
        print_json({"total": total, "subjects": rows})
        return
    table = Table(title=f"Subjects ({len(rows)} of {total})")
    for column in ("subject", "tenant", "episodes", "memories", "open", "health", "last activity"):
        table.add_column(column, no_wrap=column != "subject")
    for row in rows:
        table.add_row(
            escape(row["subject_id"]),
            escape(row["tenant_id"] or "(default)"),
            str(row["episode_count"]),
            str(row["memory_count"]),
            str(row["open_sessions"]),
            cell("status", row["health_state"]),
            age(row["last_episode_at"]),
        )
    Console().print(table)


_MEMORY_FIELDS = ("id", "kind", "content", "confidence", "valid_from", "source_episode_ids")
_PROVENANCE = ("fact_ids", "summary_ids", "procedure_ids", "episode_ids")


def _tenant_header(tenant: str) -> dict[str, str]:
    return {"X-Tenant-ID": tenant} if tenant else {}


def _search(
    subject_id: str, query: str, tenant: str, semantic: bool, limit: int
) -> list[dict[str, Any]]:
    """Active memories best first: ``/v1/memories/search`` with ``--url``, else the service."""
    server = remote.current()
    if server is not None:
        params = {"subject_id": subject_id, "q": query, "semantic": semantic, "limit": limit}
        found = server.call(
            "GET", "/v1/memories/search", params=params, headers=_tenant_header(tenant)
        )
        return [{f: m.get(f) for f in _MEMORY_FIELDS} for m in found["memories"]]
    from statewave_server.services.runtime import build_runtime
    from statewave_server.services.search import search_memories

    settings = get_settings()
    runtime = build_runtime(settings)
    memories = run(
        lambda db: search_memories(
            db,
            runtime,
            tenant_id=tenant,
            subject_id=subject_id,
            kind=None,
            query=query,
            semantic=semantic,
            limit=limit,
        ),
        settings,
    )
    return [{f: getattr(m, f) for f in _MEMORY_FIELDS} for m in memories]


def search(
    subject_id: str,
    query: str,
    tenant: Tenant = "",
    semantic: Annotated[bool, typer.Option(help="Add vector similarity.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Memories to show.")] = 20,
    json_output: Json = False,
) -> None:
    """Search one subject's active memories, best first."""
    found = _search(subject_id, query, tenant, semantic, limit)
    if json_output:
        print_json({"memories": found})
        return
    table = Table(title=f"{len(found)} memory(ies) for {escape(repr(query))}")
    for column in ("id", "kind", "content"):
        table.add_column(column, no_wrap=column != "content")
    for memory in found:
        table.add_row(short(memory["id"]), memory["kind"], escape(memory["content"]))
    Console().print(table)


def _context(
    subject_id: str, task: str, tenant: str, budget: int, session_id: str | None
) -> tuple[str, int, dict[str, list[str]]]:
    """The assembled context, its token estimate and provenance: ``/v1/context`` with
    ``--url``, else the service."""
    server = remote.current()
    if server is not None:
        body = {
            "subject_id": subject_id,
            "task": task,
            "max_tokens": budget,
            "session_id": session_id,
        }
        got = server.call("POST", "/v1/context", body=body, headers=_tenant_header(tenant))
        provenance = {name: got["provenance"][name] for name in _PROVENANCE}
        return got["assembled_context"], got["token_estimate"], provenance
    from statewave_server.services.retrieval import build_context
    from statewave_server.services.runtime import build_runtime

    settings = get_settings()
    runtime = build_runtime(settings)
    result = run(
        lambda db: build_context(
            db,
            runtime,
            tenant_id=tenant,
            subject_id=subject_id,
            task=task,
            max_tokens=budget,
            session_id=session_id,
        ),
        settings,
    )
    bundle = result.bundle
    provenance = {name: [str(i) for i in getattr(bundle.provenance, name)] for name in _PROVENANCE}
    return bundle.assembled_context, bundle.token_estimate, provenance


def context(
    subject_id: str,
    task: str,
    tenant: Tenant = "",
    max_tokens: Annotated[
        int | None,
        typer.Option(
            min=1, max=16_000, help="Token budget (default: STATEWAVE_DEFAULT_MAX_CONTEXT_TOKENS)."
        ),
    ] = None,
    session_id: Annotated[str | None, typer.Option("--session", help="Current session.")] = None,
    json_output: Json = False,
) -> None:
    """Print the context an agent gets for TASK (the exact assembled_context)."""
    budget = max_tokens or get_settings().default_max_context_tokens
    text, tokens, provenance = _context(subject_id, task, tenant, budget, session_id)
    if json_output:
        print_json(
            {
                "subject_id": subject_id,
                "task": task,
                "assembled_context": text,
                "token_estimate": tokens,
                "max_tokens": budget,
                "provenance": provenance,
            }
        )
        return
    typer.echo(text)
    typer.echo(f"({tokens} of {budget} tokens)", err=True)


def register(app: typer.Typer) -> None:
    """Add ``subjects``, ``search`` and ``context`` to the ``statewave`` command."""
    app.command("subjects")(subjects)
    app.command("search")(search)
    app.command("context")(context)
