"""One record of a subject: an episode, a memory (with its lineage, and the operator's
retire/correct actions), a support session."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.api.deps import DbDep, EventsDep, RuntimeDep
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import DATA_PAGE, HtmlErrorRoute
from statewave_server.console.urls import memory_url
from statewave_server.console.web import (
    FormDep,
    PageError,
    SubjectPath,
    Text,
    parse_uuid,
    redirect,
    render,
)
from statewave_server.services.admin import memory_edits as memory_edit_service
from statewave_server.services.admin import subjects as subject_service
from statewave_server.services.support.handoff import create_handoff, render_notes

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute, dependencies=DATA_PAGE)

REASON_MAX: Final = 500
CONTENT_MAX: Final = 10_000
SESSION_MAX: Final = 256
HANDOFF_TOKENS: Final = 4000  # POST /v1/handoff's default budget


@router.get("/subjects/{subject_id:path}/episodes/{episode_id}", response_class=HTMLResponse)
async def episode_page(
    request: Request,
    subject_id: SubjectPath,
    episode_id: str,
    db: DbDep,
    tenant_id: Text = "",
) -> Response:
    parsed = parse_uuid(episode_id, "episode")
    found = await subject_service.episodes_by_ids(
        db, tenant_id=tenant_id, subject_id=subject_id, ids=[parsed]
    )
    if parsed not in found:
        raise PageError(404, "Not found", f"Episode {episode_id} not found.")
    citing, citing_total = await subject_service.citing_memories(
        db, tenant_id=tenant_id, subject_id=subject_id, episode_id=parsed, limit=100
    )
    return render(
        request,
        "episode.html",
        title=f"Episode {episode_id[:8]}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        episode=found[parsed],
        citing=citing,
        citing_total=citing_total,
    )


@router.get("/subjects/{subject_id:path}/memories/{memory_id}", response_class=HTMLResponse)
async def memory_page(
    request: Request,
    subject_id: SubjectPath,
    memory_id: str,
    db: DbDep,
    tenant_id: Text = "",
) -> Response:
    parsed = parse_uuid(memory_id, "memory")
    related = await subject_service.related(
        db, tenant_id=tenant_id, subject_id=subject_id, memory_id=parsed
    )
    sources = list(related.memory.source_episode_ids)
    by_id = await subject_service.episodes_by_ids(
        db, tenant_id=tenant_id, subject_id=subject_id, ids=sources
    )
    return render(
        request,
        "memory.html",
        title=f"Memory {memory_id[:8]}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        related=related,
        lineage=related.lineage,
        memory=related.memory,
        reasons_max=REASON_MAX,
        sources=[(source, by_id.get(source)) for source in sources],
    )


@router.get("/subjects/{subject_id:path}/session", response_class=HTMLResponse)
async def session_page(
    request: Request,
    subject_id: SubjectPath,
    session_id: Annotated[str, Query(min_length=1, max_length=SESSION_MAX)],
    db: DbDep,
    tenant_id: Text = "",
) -> Response:
    """One support session: its episodes oldest first, the resolution, and SLA metrics."""
    return await _session(
        request, db, tenant_id=tenant_id, subject_id=subject_id, session_id=session_id
    )


@router.post("/handoff", response_class=HTMLResponse)
async def session_handoff(
    request: Request, form: FormDep, db: DbDep, events: EventsDep
) -> Response:
    """The session page with the handoff notes ``POST /v1/handoff`` builds (a POST: it
    records the subject's health, as the API call does)."""
    tenant_id, subject_id = form.get("tenant_id", ""), form.get("subject_id", "")
    session_id = form.get("session_id", "")
    if not subject_id or not session_id or len(session_id) > SESSION_MAX:
        raise PageError(400, "Session needed", "Generate a handoff from a session's page.")
    pack = await create_handoff(
        db,
        events,
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        reason="console",
        max_tokens=HANDOFF_TOKENS,
    )
    notes = render_notes(pack)
    return await _session(
        request,
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        handoff=notes,
    )


async def _session(
    request: Request,
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    handoff: str | None = None,
) -> Response:
    data = await subject_service.session_timeline(
        db, tenant_id=tenant_id, subject_id=subject_id, session_id=session_id
    )
    return render(
        request,
        "session.html",
        title=f"Session {session_id}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        data=data,
        sla=data["sla"],
        handoff=handoff,
    )


def _reason(form: dict[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise PageError(400, "Reason needed", f"Say why, in 1 to {REASON_MAX} characters.")
    return reason


@router.post("/memories/{memory_id}/retire")
async def retire_memory(memory_id: str, form: FormDep, db: DbDep, events: EventsDep) -> Response:
    """Take one wrong memory out of use (audited as ``console``; ``memory.retired``)."""
    parsed = parse_uuid(memory_id, "memory", status_code=400)
    tenant_id = form.get("tenant_id", "")
    edit = await memory_edit_service.retire_memory(
        db, events, tenant_id, parsed, reason=_reason(form), actor="console"
    )
    return redirect(
        memory_url(tenant_id=tenant_id, subject_id=edit.memory.subject_id, memory_id=edit.memory.id)
    )


@router.post("/memories/{memory_id}/correct")
async def correct_memory(
    memory_id: str, form: FormDep, db: DbDep, events: EventsDep, runtime: RuntimeDep
) -> Response:
    """Supersede one memory with the operator's content (``memory.corrected``)."""
    parsed = parse_uuid(memory_id, "memory", status_code=400)
    tenant_id = form.get("tenant_id", "")
    reason = _reason(form)
    content = form.get("content", "")
    if len(content) > CONTENT_MAX:
        raise PageError(400, "Too long", "The corrected content is too long.")
    edit = await memory_edit_service.correct_memory(
        db,
        events,
        runtime.embedder,
        tenant_id,
        parsed,
        content=content,
        reason=reason,
        actor="console",
    )
    shown = edit.replacement or edit.memory
    return redirect(
        memory_url(tenant_id=tenant_id, subject_id=shown.subject_id, memory_id=shown.id)
    )
