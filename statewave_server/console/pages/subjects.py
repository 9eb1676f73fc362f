"""The subjects list and the subject page: what we know and why, a context preview,
then every memory and the timeline, each paged and filtered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.api.deps import DbDep, EventsDep, RuntimeDep, SettingsDep
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import DATA_PAGE, HtmlErrorRoute
from statewave_server.console.urls import quote_segment
from statewave_server.console.web import (
    PAGE_SIZE,
    Offset,
    SubjectPath,
    TenantChoice,
    Text,
    list_page,
    render,
    tenant_choice,
)
from statewave_server.db.models import Episode, Resolution
from statewave_server.services.admin import subjects as subject_service
from statewave_server.services.retrieval import ContextResult, build_context
from statewave_server.services.runtime import MemoryRuntime

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute, dependencies=DATA_PAGE)

HEALTH_STATES: Final = ("healthy", "watch", "at_risk")
MEMORY_STATUSES: Final = ("active", "superseded", "deleted")
SORT_KEYS: Final[tuple[subject_service.SortKey, ...]] = (
    "last_activity",
    "subject_id",
    "episode_count",
    "memory_count",
)


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(
    request: Request,
    db: DbDep,
    search: Text = "",
    tenant_id: TenantChoice = None,
    health_state: Text = "",
    open_sessions: Text = "",
    sort_by: Text = "last_activity",
    sort_order: Text = "desc",
    offset: Offset = 0,
) -> Response:
    sort: subject_service.SortKey = next((k for k in SORT_KEYS if k == sort_by), "last_activity")
    descending = sort_order != "asc"
    filters = subject_service.ExplorerFilter(
        search=search.strip() or None,
        tenant_id=tenant_choice(tenant_id),
        health_state=health_state if health_state in HEALTH_STATES else None,
        has_open_sessions={"yes": True, "no": False}.get(open_sessions),
    )
    rows, total = await subject_service.explore(
        db, filters, sort_by=sort, descending=descending, limit=PAGE_SIZE, offset=offset
    )
    params: dict[str, str | int | None] = {
        "search": search,
        "tenant_id": tenant_id,
        "health_state": filters.health_state,
        "open_sessions": open_sessions if open_sessions in ("yes", "no") else None,
        "sort_by": sort,
        "sort_order": "desc" if descending else "asc",
    }
    return await list_page(
        request,
        "subjects.html",
        db,
        tenant_id=tenant_id,
        total=total,
        offset=offset,
        params=params,
        title="Subjects",
        rows=rows,
        health_states=HEALTH_STATES,
        sort_keys=SORT_KEYS,
    )


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "episode" | "resolution"
    episode: Episode | None = None
    resolution: Resolution | None = None


def _timeline_page(
    episodes: list[Episode], resolutions: list[Resolution], offset: int, total: int
) -> list[TimelineItem]:
    """One page of episodes (when they occurred) with the resolutions (when resolved, else
    last updated) that fall in its time span, newest first: the first page takes every
    newer resolution, the last every older one."""
    if episodes:
        newest = episodes[0].occurred_at if offset > 0 else None
        oldest = episodes[-1].occurred_at if offset + len(episodes) < total else None
        resolutions = [
            r
            for r in resolutions
            if (newest is None or (r.resolved_at or r.updated_at) <= newest)
            and (oldest is None or (r.resolved_at or r.updated_at) >= oldest)
        ]
    elif offset > 0:
        resolutions = []
    items = [TimelineItem(e.occurred_at, "episode", episode=e) for e in episodes]
    items += [
        TimelineItem(r.resolved_at or r.updated_at, "resolution", resolution=r) for r in resolutions
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)


async def _context_preview(
    db: DbDep,
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
    task: str,
    max_tokens: int,
) -> ContextResult | None:
    if not task:
        return None
    return await build_context(
        db,
        runtime,
        tenant_id=tenant_id,
        subject_id=subject_id,
        task=task,
        max_tokens=max_tokens,
        session_id=None,
    )


@router.get("/subjects/{subject_id:path}", response_class=HTMLResponse)
async def subject_page(
    request: Request,
    subject_id: SubjectPath,
    db: DbDep,
    events: EventsDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    tenant_id: Text = "",
    m_kind: Text = "",
    m_status: Text = "",
    m_q: Text = "",
    m_session: Text = "",
    m_offset: Offset = 0,
    t_session: Text = "",
    t_offset: Offset = 0,
    task: Annotated[str, Query(max_length=2000)] = "",
    max_tokens: Annotated[int | None, Query(ge=50, le=16_000)] = None,
) -> Response:
    query = subject_service.PageQuery(
        memory_kind=m_kind or None,
        memory_status=m_status if m_status in MEMORY_STATUSES else None,
        memory_search=m_q.strip() or None,
        memory_session=m_session or None,
        memory_offset=m_offset,
        timeline_session=t_session or None,
        timeline_offset=t_offset,
        limit=PAGE_SIZE,
    )
    shown = await subject_service.subject_page(
        db, events, tenant_id=tenant_id, subject_id=subject_id, query=query
    )
    resolutions = shown.resolutions
    if t_session:
        resolutions = [r for r in resolutions if r.session_id == t_session]
    budget = max_tokens or settings.default_max_context_tokens
    preview = await _context_preview(
        db,
        runtime,
        tenant_id=tenant_id,
        subject_id=subject_id,
        task=task.strip(),
        max_tokens=budget,
    )
    params: dict[str, str | int | None] = {
        "tenant_id": tenant_id or None,
        "m_kind": query.memory_kind,
        "m_status": query.memory_status,
        "m_q": query.memory_search,
        "m_session": query.memory_session,
        "m_offset": m_offset or None,
        "t_session": t_session or None,
        "t_offset": t_offset or None,
    }
    return render(
        request,
        "subject.html",
        title=f"Subject {subject_id}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        path=f"/console/subjects/{quote_segment(subject_id)}",
        params=params,
        page_size=PAGE_SIZE,
        found=shown.detail,
        known=shown.knowledge,
        memories=shown.memories,
        memory_total=shown.memory_total,
        query=query,
        memory_offset=m_offset,
        kinds=list(shown.active_by_kind),
        memory_statuses=MEMORY_STATUSES,
        episode_total=shown.episode_total,
        timeline_offset=t_offset,
        timeline_session=t_session,
        timeline=_timeline_page(shown.episodes, resolutions, t_offset, shown.episode_total),
        task=task,
        max_tokens=budget,
        preview=preview,
        health=shown.detail.health,
        sla=shown.detail.sla,
    )
