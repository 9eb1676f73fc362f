"""``/admin/memories/{id}``: retire or correct one wrong memory (audited, announced)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query

from statewave_server.api.deps import DbDep, EventsDep, RuntimeDep
from statewave_server.api.schemas.admin import (
    AdminMemory,
    CorrectMemoryBody,
    MemoryEditResponse,
    MemoryIds,
    RetireMemoryBody,
)
from statewave_server.api.schemas.common import NO_NUL
from statewave_server.services.admin import memory_edits as service

router = APIRouter(prefix="/admin/memories", tags=["admin"])

Operator = Annotated[str | None, Header(alias="X-Statewave-Operator-Email", max_length=256)]


def _response(edit: service.MemoryEdit) -> MemoryEditResponse:
    replacement = edit.replacement
    return MemoryEditResponse(
        memory=AdminMemory.model_validate(edit.memory),
        replacement=AdminMemory.model_validate(replacement) if replacement else None,
    )


@router.get("", response_model=MemoryIds)
async def memory_ids(
    db: DbDep,
    id_prefix: Annotated[str, Query(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$")],
    tenant_id: Annotated[str, Query(max_length=256, pattern=NO_NUL)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 2,
) -> MemoryIds:
    """The tenant's memory ids starting with ``id_prefix`` (resolves a short id)."""
    return MemoryIds(ids=await service.ids_starting_with(db, tenant_id, id_prefix, limit=limit))


@router.post("/{memory_id}/retire", response_model=MemoryEditResponse)
async def retire(
    memory_id: uuid.UUID,
    body: RetireMemoryBody,
    db: DbDep,
    events: EventsDep,
    operator: Operator = None,
) -> MemoryEditResponse:
    """404 unknown memory (in that tenant), 409 not active; emits ``memory.retired``."""
    edit = await service.retire_memory(
        db, events, body.tenant_id, memory_id, reason=body.reason, actor=operator or "api"
    )
    return _response(edit)


@router.post("/{memory_id}/correct", response_model=MemoryEditResponse)
async def correct(
    memory_id: uuid.UUID,
    body: CorrectMemoryBody,
    db: DbDep,
    events: EventsDep,
    runtime: RuntimeDep,
    operator: Operator = None,
) -> MemoryEditResponse:
    """Supersede with new content; 404 unknown, 409 not active; emits ``memory.corrected``."""
    edit = await service.correct_memory(
        db,
        events,
        runtime.embedder,
        body.tenant_id,
        memory_id,
        content=body.content,
        reason=body.reason,
        actor=operator or "api",
    )
    return _response(edit)
