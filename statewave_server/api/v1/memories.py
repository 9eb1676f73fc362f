"""``/v1/memories``: compile (sync and async), compile status, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from statewave_server.api.deps import (
    DbDep,
    ReadDbDep,
    RuntimeDep,
    SettingsDep,
    TenantId,
)
from statewave_server.api.schemas.common import NO_NUL
from statewave_server.api.schemas.compile import (
    CompileJobResponse,
    CompileRequest,
    CompileResponse,
)
from statewave_server.api.schemas.memories import MemoryResponse, SearchResponse
from statewave_server.errors import without_sql
from statewave_server.services import compilation
from statewave_server.services.search import search_memories

router = APIRouter(prefix="/v1/memories", tags=["memories"])

# A job that used up its attempts is "dead" inside; the SDK knows it as "failed".
_WIRE_STATUS = {"dead": "failed"}


@router.post(
    "/compile",
    response_model=CompileResponse,
    responses={202: {"model": CompileJobResponse, "description": "Queued (async)"}},
)
async def compile_memories(
    body: CompileRequest,
    tenant_id: TenantId,
    db: DbDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> CompileResponse | JSONResponse:
    if body.run_async:
        job = await compilation.submit_compile(
            db,
            tenant_id=tenant_id,
            subject_id=body.subject_id,
            max_attempts=settings.job_max_attempts,
        )
        queued = CompileJobResponse(job_id=job.id, status="pending", subject_id=job.subject_id)
        return JSONResponse(queued.model_dump(), status_code=202)
    memories = await compilation.compile_now(
        db, runtime, tenant_id=tenant_id, subject_id=body.subject_id
    )
    return CompileResponse(
        subject_id=body.subject_id,
        memories_created=len(memories),
        memories=[MemoryResponse.model_validate(m) for m in memories],
    )


@router.get("/compile/{job_id}", response_model=CompileJobResponse)
async def get_compile_status(
    job_id: Annotated[str, Path(pattern=NO_NUL)], tenant_id: TenantId, db: DbDep
) -> CompileJobResponse:
    status = await compilation.compile_status(db, tenant_id, job_id)
    job = status.job
    return CompileJobResponse(
        job_id=job.id,
        status=_WIRE_STATUS.get(job.status, job.status),
        subject_id=job.subject_id,
        memories_created=job.memories_created,
        memories=[MemoryResponse.model_validate(m) for m in status.memories],
        error=without_sql(job.error) if job.status == "dead" and job.error else None,
    )


@router.get("/search", response_model=SearchResponse)
async def search(
    tenant_id: TenantId,
    db: ReadDbDep,
    runtime: RuntimeDep,
    subject_id: Annotated[str, Query(min_length=1, max_length=256, pattern=NO_NUL)],
    kind: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    q: Annotated[str | None, Query(max_length=4000, pattern=NO_NUL)] = None,
    semantic: bool = False,
    limit: Annotated[int, Query(ge=0, le=100)] = 20,
) -> SearchResponse:
    """Active memories; ``q`` alone matches those containing it (case-insensitive), best
    first; with ``semantic`` nearest meanings join in. ``limit=0`` answers no memories."""
    memories = await search_memories(
        db,
        runtime,
        tenant_id=tenant_id,
        subject_id=subject_id,
        kind=kind,
        query=q,
        semantic=semantic,
        limit=limit,
    )
    return SearchResponse(memories=[MemoryResponse.model_validate(m) for m in memories])
