"""``GET /v1/timeline``, ``GET /v1/subjects``, ``DELETE /v1/subjects/{subject_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from statewave_server.api.deps import DbDep, EventsDep, ReadDbDep, TenantId
from statewave_server.api.schemas.common import NO_NUL, Offset
from statewave_server.api.schemas.episodes import EpisodeResponse
from statewave_server.api.schemas.memories import MemoryResponse
from statewave_server.api.schemas.subjects import (
    DeleteSubjectResponse,
    SubjectsResponse,
    SubjectSummaryResponse,
    TimelineResponse,
)
from statewave_server.services import subjects as service

router = APIRouter(prefix="/v1", tags=["subjects"])

# Offsets are BIGINT in SQL; anything larger is a 422 rather than a driver overflow.


@router.get("/timeline", response_model=TimelineResponse)
async def get_timeline(
    tenant_id: TenantId,
    db: ReadDbDep,
    subject_id: Annotated[str, Query(max_length=256, pattern=NO_NUL)],
    limit: Annotated[int, Query(ge=0, le=200)] = 100,
    offset: Offset = 0,
    newest_first: bool = True,
) -> TimelineResponse:
    """Newest ``limit`` episodes and memories by default; each page ascending in time.
    An empty ``subject_id`` (no subject has it) or ``limit=0`` answers an empty page."""
    page = await service.timeline(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        limit=limit,
        offset=offset,
        newest_first=newest_first,
    )
    return TimelineResponse(
        subject_id=subject_id,
        episodes=[EpisodeResponse.model_validate(e) for e in page.episodes],
        memories=[MemoryResponse.model_validate(m) for m in page.memories],
        episodes_has_more=page.episodes_has_more,
        memories_has_more=page.memories_has_more,
    )


@router.get("/subjects", response_model=SubjectsResponse)
async def list_subjects(
    tenant_id: TenantId,
    db: ReadDbDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> SubjectsResponse:
    """A page of subjects; ``total`` counts all of the tenant's subjects."""
    page, total = await service.list_subjects(db, tenant_id, limit=limit, offset=offset)
    return SubjectsResponse(
        subjects=[SubjectSummaryResponse.model_validate(s) for s in page], total=total
    )


@router.delete("/subjects/{subject_id:path}", response_model=DeleteSubjectResponse)
async def delete_subject(
    subject_id: Annotated[str, Path(pattern=NO_NUL)],
    tenant_id: TenantId,
    db: DbDep,
    events: EventsDep,
) -> DeleteSubjectResponse:
    counts = await service.delete_subject(db, events, tenant_id=tenant_id, subject_id=subject_id)
    return DeleteSubjectResponse(
        subject_id=subject_id,
        episodes_deleted=counts.episodes,
        memories_deleted=counts.memories,
        snapshots_deleted=counts.snapshots,
    )
