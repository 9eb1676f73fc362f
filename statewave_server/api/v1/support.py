"""Support endpoints: resolutions, handoff packs, customer health and SLA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from statewave_server.api.deps import DbDep, EventsDep, TenantId
from statewave_server.api.schemas.common import Offset
from statewave_server.api.schemas.support import (
    CreateResolution,
    HandoffRequest,
    HandoffResponse,
    HealthFactorResponse,
    HealthResponse,
    ResolutionResponse,
    ResolutionStatus,
    ResolutionSummaryItem,
    SlaSummaryResponse,
)
from statewave_server.services.support import resolutions as resolution_service
from statewave_server.services.support.alerts import subject_health
from statewave_server.services.support.handoff import create_handoff
from statewave_server.services.support.sla import (
    DEFAULT_FIRST_RESPONSE_MINUTES,
    DEFAULT_RESOLUTION_HOURS,
    SlaThresholds,
    subject_sla,
)

router = APIRouter(prefix="/v1", tags=["support"])

# ``:path`` so a subject id containing "/" is still addressable (the SDK does not encode it).
SubjectPath = Annotated[str, Path(min_length=1, max_length=256)]
Threshold = Annotated[float, Query(ge=0, allow_inf_nan=False)]


@router.post("/resolutions", response_model=ResolutionResponse)
async def upsert_resolution(
    body: CreateResolution, tenant_id: TenantId, db: DbDep
) -> ResolutionResponse:
    """Create or update the session's resolution: 200 with the stored values either way."""
    row = await resolution_service.record_resolution(
        db,
        tenant_id=tenant_id,
        subject_id=body.subject_id,
        session_id=body.session_id,
        status=body.status,
        summary=body.resolution_summary,
        metadata=body.metadata,
    )
    return ResolutionResponse.model_validate(row)


@router.get("/resolutions", response_model=list[ResolutionResponse])
async def list_resolutions(
    tenant_id: TenantId,
    db: DbDep,
    subject_id: Annotated[str, Query(min_length=1, max_length=256)],
    status: ResolutionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[ResolutionResponse]:
    """The subject's resolutions, most recently updated first (a bare JSON array)."""
    rows = await resolution_service.list_resolutions(
        db,
        tenant_id=tenant_id,
        subject_id=subject_id,
        status=status,
        limit=limit,
        offset=offset,
    )
    return [ResolutionResponse.model_validate(r) for r in rows]


@router.post("/handoff", response_model=HandoffResponse)
async def handoff(
    body: HandoffRequest, tenant_id: TenantId, db: DbDep, events: EventsDep
) -> HandoffResponse:
    pack = await create_handoff(
        db,
        events,
        tenant_id=tenant_id,
        subject_id=body.subject_id,
        session_id=body.session_id,
        reason=body.reason,
        max_tokens=body.max_tokens,
    )
    return HandoffResponse(
        subject_id=pack.subject_id,
        session_id=pack.session_id,
        reason=pack.reason,
        generated_at=pack.generated_at,
        customer_summary=pack.customer_summary,
        active_issue=pack.active_issue,
        attempted_steps=list(pack.attempted_steps),
        key_facts=list(pack.key_facts),
        resolution_history=[
            ResolutionSummaryItem(
                session_id=r.session_id,
                status=r.status,
                summary=r.summary,
                resolved_at=r.resolved_at,
            )
            for r in pack.resolution_history
        ],
        recent_context=list(pack.recent_context),
        health_score=pack.health.score,
        health_state=pack.health.state,
        health_factors=[HealthFactorResponse.model_validate(f) for f in pack.health.top_factors()],
        handoff_notes=pack.handoff_notes,
        token_estimate=pack.token_estimate,
        provenance=pack.provenance,
    )


@router.get("/subjects/{subject_id:path}/health", response_model=HealthResponse)
async def get_health(
    subject_id: SubjectPath, tenant_id: TenantId, db: DbDep, events: EventsDep
) -> HealthResponse:
    """Compute health now; the cache update and any transition alert are committed."""
    report = await subject_health(db, events, tenant_id=tenant_id, subject_id=subject_id)
    return HealthResponse(
        subject_id=subject_id,
        score=report.score,
        state=report.state,
        factors=[HealthFactorResponse.model_validate(f) for f in report.factors],
    )


@router.get("/subjects/{subject_id:path}/sla", response_model=SlaSummaryResponse)
async def get_sla(
    subject_id: SubjectPath,
    tenant_id: TenantId,
    db: DbDep,
    first_response_threshold_minutes: Threshold = DEFAULT_FIRST_RESPONSE_MINUTES,
    resolution_threshold_hours: Threshold = DEFAULT_RESOLUTION_HOURS,
) -> SlaSummaryResponse:
    thresholds = SlaThresholds.of(first_response_threshold_minutes, resolution_threshold_hours)
    summary = await subject_sla(
        db, tenant_id=tenant_id, subject_id=subject_id, thresholds=thresholds
    )
    return SlaSummaryResponse.model_validate(summary)
