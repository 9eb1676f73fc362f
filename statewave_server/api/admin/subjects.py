"""``/admin/subjects``: explorer, detail, rows, links, session timeline and deletion.

Subject ids may contain ``/`` (``:path``), so the specific routes are declared before the
bare ``/admin/subjects/{subject_id}`` ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from statewave_server.api.deps import DbDep, EventsDep, ReadDbDep
from statewave_server.api.schemas.admin import (
    AdminEpisode,
    AdminMemory,
    BulkDeleteBody,
    BulkDeleteResponse,
    DeletedSubject,
    DeleteFilterBody,
    EpisodesPage,
    MatchItem,
    MemoriesPage,
    PreviewResponse,
    SubjectItem,
    SubjectsPage,
)
from statewave_server.api.schemas.common import MAX_OFFSET, NO_NUL
from statewave_server.api.schemas.support import SlaSummaryResponse
from statewave_server.db.models import Memory
from statewave_server.errors import BadRequest
from statewave_server.services.admin import deletion
from statewave_server.services.admin import subjects as service
from statewave_server.services.admin.subjects import ExplorerFilter, SortKey
from statewave_server.services.support.sla import (
    DEFAULT_FIRST_RESPONSE_MINUTES,
    DEFAULT_RESOLUTION_HOURS,
    SlaThresholds,
)

router = APIRouter(prefix="/admin/subjects", tags=["admin"])

Tenant = Annotated[
    str, Query(max_length=256, pattern=NO_NUL, description="Exact tenant ('' = default).")
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Text = Annotated[str | None, Query(min_length=1, max_length=256, pattern=NO_NUL)]
SubjectPath = Annotated[str, Path(min_length=1, max_length=256, pattern=NO_NUL)]
SessionPath = Annotated[str, Path(min_length=1, max_length=256, pattern=NO_NUL)]
Threshold = Annotated[float, Query(ge=0, allow_inf_nan=False)]


@router.get("", response_model=SubjectsPage)
async def explore(
    db: ReadDbDep,
    search: Text = None,
    tenant_id: Annotated[str | None, Query(max_length=256, pattern=NO_NUL)] = None,
    health_state: Literal["healthy", "watch", "at_risk"] | None = None,
    has_open_sessions: bool | None = None,
    sort_by: SortKey = "last_activity",
    sort_order: Literal["asc", "desc"] = "desc",
    limit: Limit = 50,
    offset: Offset = 0,
) -> SubjectsPage:
    """Subjects with episodes across tenants (or one), hidden snapshot copies excluded."""
    filters = ExplorerFilter(search, tenant_id, health_state, has_open_sessions)
    rows, total = await service.explore(
        db,
        filters,
        sort_by=sort_by,
        descending=sort_order == "desc",
        limit=limit,
        offset=offset,
    )
    items = [SubjectItem.model_validate(r) for r in rows]
    return SubjectsPage(subjects=items, total=total, limit=limit, offset=offset)


@router.post("/preview-delete", response_model=PreviewResponse)
async def preview_delete(body: DeleteFilterBody, db: DbDep) -> PreviewResponse:
    """What a bulk delete with this filter would remove (matched count and a sample)."""
    preview = await deletion.preview_delete(db, deletion.DeleteFilter(**body.model_dump()))
    return PreviewResponse(
        matched=preview.matched,
        sample=[MatchItem.model_validate(m) for m in preview.sample],
        total_episodes=preview.total_episodes,
        total_memories=preview.total_memories,
    )


@router.post("/bulk-delete", response_model=BulkDeleteResponse)
async def bulk_delete(body: BulkDeleteBody, db: DbDep, events: EventsDep) -> BulkDeleteResponse:
    """Delete every match atomically; 409 (nothing deleted) when the match count differs
    from ``expected_count``; 400 without ``confirm: true``."""
    fields = body.model_dump(exclude={"confirm", "expected_count"})
    done = await deletion.bulk_delete(
        db,
        events,
        deletion.DeleteFilter(**fields),
        confirm=body.confirm,
        expected_count=body.expected_count,
    )
    return BulkDeleteResponse(
        deleted_subjects=done.deleted_subjects,
        deleted_episodes=done.deleted_episodes,
        deleted_memories=done.deleted_memories,
        subjects=[DeletedSubject.model_validate(d) for d in done.subjects],
    )


@router.get("/{subject_id:path}/memories/{memory_id}/related")
async def related(
    subject_id: SubjectPath, memory_id: str, db: ReadDbDep, tenant_id: Tenant = ""
) -> dict[str, Any]:
    found = await service.related(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        memory_id=_uuid(memory_id, "memory_id"),
    )

    def item(memory: Any, relationship: str) -> dict[str, Any]:
        return {**AdminMemory.model_validate(memory).model_dump(), "relationship": relationship}

    return {
        "memory_id": found.memory.id,
        "status": found.memory.status,
        "created_at": found.memory.created_at,
        "superseding_memory": (
            item(found.lineage.superseded_by, "supersedes") if found.lineage.superseded_by else None
        ),
        "superseded_memories": [item(m, "superseded_by") for m in found.lineage.replaced],
        "lineage_recorded": found.lineage.recorded,
        "sibling_memories": [item(m, "sibling") for m in found.siblings],
        "source_episode_count": len(found.memory.source_episode_ids),
    }


@router.get("/{subject_id:path}/episodes/{episode_id}/citing-memories", response_model=MemoriesPage)
async def citing_memories(
    subject_id: SubjectPath,
    episode_id: str,
    db: ReadDbDep,
    tenant_id: Tenant = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> MemoriesPage:
    rows, total = await service.citing_memories(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        episode_id=_uuid(episode_id, "episode_id"),
        limit=limit,
        offset=offset,
    )
    return _memories_page(rows, total, limit, offset)


@router.get("/{subject_id:path}/sessions/{session_id}/timeline")
async def session_timeline(
    subject_id: SubjectPath,
    session_id: SessionPath,
    db: ReadDbDep,
    tenant_id: Tenant = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    """The session's episodes oldest first, the resolution in place, and SLA metrics."""
    data = await service.session_timeline(
        db, tenant_id=tenant_id, subject_id=subject_id, session_id=session_id, limit=limit
    )
    sla = data["sla"]
    events = [
        {
            "event_type": "episode",
            **AdminEpisode.model_validate(e["episode"]).model_dump(mode="json"),
            "citing_memory_count": e["citing_memory_count"],
        }
        if e["event_type"] == "episode"
        else e
        for e in data["events"]
    ]
    return {
        "session_id": session_id,
        "status": data["status"],
        "first_message_at": sla.first_message_at,
        "first_response_at": sla.first_response_at,
        "resolved_at": sla.resolved_at,
        "first_response_seconds": sla.first_response_seconds,
        "resolution_seconds": sla.resolution_seconds,
        "first_response_breached": sla.first_response_breached,
        "resolution_breached": sla.resolution_breached,
        "episode_count": data["episode_count"],
        "events": events,
    }


@router.get("/{subject_id:path}/sla", response_model=SlaSummaryResponse)
async def sla(
    subject_id: SubjectPath,
    db: DbDep,
    tenant_id: Tenant = "",
    first_response_threshold_minutes: Threshold = DEFAULT_FIRST_RESPONSE_MINUTES,
    resolution_threshold_hours: Threshold = DEFAULT_RESOLUTION_HOURS,
) -> SlaSummaryResponse:
    """Per-session first-response and resolution metrics with breach counts; 404 when
    the subject has no episodes in this tenant."""
    thresholds = SlaThresholds.of(first_response_threshold_minutes, resolution_threshold_hours)
    summary = await service.sla(
        db, tenant_id=tenant_id, subject_id=subject_id, thresholds=thresholds
    )
    return SlaSummaryResponse.model_validate(summary)


@router.get("/{subject_id:path}/memories", response_model=MemoriesPage)
async def memories(
    subject_id: SubjectPath,
    db: ReadDbDep,
    tenant_id: Tenant = "",
    status: Literal["active", "superseded", "all"] = "all",
    kind: Text = None,
    search: Text = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MemoriesPage:
    rows, total = await service.memories(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        status=None if status == "all" else status,
        kind=kind,
        search=search,
        limit=limit,
        offset=offset,
    )
    return _memories_page(rows, total, limit, offset)


@router.get("/{subject_id:path}/episodes", response_model=EpisodesPage)
async def episodes(
    subject_id: SubjectPath,
    db: ReadDbDep,
    tenant_id: Tenant = "",
    session_id: Text = None,
    type: Text = None,
    search: Text = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EpisodesPage:
    rows, total = await service.episodes(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        type_=type,
        search=search,
        limit=limit,
        offset=offset,
    )
    items = [AdminEpisode.model_validate(e) for e in rows]
    return EpisodesPage(episodes=items, total=total, limit=limit, offset=offset)


@router.get("/{subject_id:path}")
async def detail(
    subject_id: SubjectPath, db: DbDep, events: EventsDep, tenant_id: Tenant = ""
) -> dict[str, Any]:
    """Counts, first/last activity, health (refreshed; alerts on a change) and SLA totals."""
    found = await service.detail(db, events, tenant_id=tenant_id, subject_id=subject_id)
    fp = found.footprint
    sla = found.sla
    return {
        "subject_id": found.subject_id,
        "tenant_id": found.tenant_id,
        "summary": {
            "episode_count": fp.episode_count,
            "memory_count": fp.memory_count,
            "session_count": max(fp.episode_sessions, fp.resolution_sessions),
            "first_seen_at": fp.first_seen_at,
            "last_activity_at": fp.last_activity_at,
            "last_recorded_at": fp.last_recorded_at,
        },
        "health": found.health,
        "sla": None
        if sla is None
        else {
            "total_sessions": sla.total_sessions,
            "resolved_sessions": sla.resolved_sessions,
            "open_sessions": sla.open_sessions,
            "avg_first_response_seconds": sla.avg_first_response_seconds,
            "avg_resolution_seconds": sla.avg_resolution_seconds,
            "first_response_breach_count": sla.first_response_breach_count,
            "resolution_breach_count": sla.resolution_breach_count,
        },
    }


@router.delete("/{subject_id:path}", response_model=DeletedSubject)
async def delete_subject(
    subject_id: SubjectPath, db: DbDep, events: EventsDep, tenant_id: Tenant = ""
) -> DeletedSubject:
    """Erase one (tenant, subject) from every table; 404 when it holds nothing."""
    done = await deletion.delete_subject(db, events, tenant_id=tenant_id, subject_id=subject_id)
    return DeletedSubject.model_validate(done)


def _memories_page(rows: Sequence[Memory], total: int, limit: int, offset: int) -> MemoriesPage:
    items = [AdminMemory.model_validate(m) for m in rows]
    return MemoriesPage(memories=items, total=total, limit=limit, offset=offset)


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} format", code="invalid_id") from None
