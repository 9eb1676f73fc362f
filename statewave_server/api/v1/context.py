"""``POST /v1/context``: a ranked, token-budgeted context bundle for the next prompt."""

from __future__ import annotations

from fastapi import APIRouter

from statewave_server.api.deps import (
    ReadDbDep,
    RuntimeDep,
    SettingsDep,
    TenantId,
)
from statewave_server.api.schemas.context import (
    ContextBundleResponse,
    ContextProvenance,
    ContextRequest,
    SessionInfo,
)
from statewave_server.api.schemas.episodes import EpisodeResponse
from statewave_server.api.schemas.memories import MemoryResponse
from statewave_server.db.episode_views import EpisodeView
from statewave_server.services.retrieval import build_context, episode_payload

router = APIRouter(prefix="/v1", tags=["context"])


@router.post("/context", response_model=ContextBundleResponse)
async def get_context(
    body: ContextRequest,
    tenant_id: TenantId,
    db: ReadDbDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> ContextBundleResponse:
    result = await build_context(
        db,
        runtime,
        tenant_id=tenant_id,
        subject_id=body.subject_id,
        task=body.task,
        max_tokens=body.max_tokens or settings.default_max_context_tokens,
        session_id=body.session_id,
    )
    bundle = result.bundle
    provenance = bundle.provenance
    return ContextBundleResponse(
        subject_id=body.subject_id,
        task=body.task,
        facts=[MemoryResponse.model_validate(result.memories[m.id]) for m in bundle.facts],
        episodes=[_episode(result.episodes[e.id]) for e in bundle.episodes],
        procedures=[
            MemoryResponse.model_validate(result.memories[m.id]) for m in bundle.procedures
        ],
        provenance=ContextProvenance(
            fact_ids=list(provenance.fact_ids),
            summary_ids=list(provenance.summary_ids),
            procedure_ids=list(provenance.procedure_ids),
            episode_ids=list(provenance.episode_ids),
        ),
        assembled_context=bundle.assembled_context,
        token_estimate=bundle.token_estimate,
        sessions=[
            SessionInfo(
                session_id=s.session_id,
                episode_count=s.episode_count,
                first_at=s.first_at,
                last_at=s.last_at,
            )
            for s in bundle.sessions
        ],
    )


def _episode(view: EpisodeView) -> EpisodeResponse:
    """An included episode; its payload is bounded (see ``episode_payload``)."""
    return EpisodeResponse(
        id=view.id,
        subject_id=view.subject_id,
        source=view.source,
        type=view.type,
        payload=episode_payload(view),
        metadata=view.metadata,
        provenance=view.provenance,
        session_id=view.session_id,
        occurred_at=view.occurred_at,
        created_at=view.created_at,
    )
