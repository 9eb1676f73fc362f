"""``POST /v1/episodes`` and ``POST /v1/episodes/batch``."""

from __future__ import annotations

from fastapi import APIRouter, status

from statewave_server.api.deps import EventsDep, SessionsDep, TenantId
from statewave_server.api.schemas.episodes import (
    BatchCreateResponse,
    CreateEpisode,
    CreateEpisodesBatch,
    EpisodeResponse,
)
from statewave_server.services.episodes import NewEpisode, record_batch, record_episode

router = APIRouter(prefix="/v1/episodes", tags=["episodes"])


def _new(item: CreateEpisode) -> NewEpisode:
    return NewEpisode(**item.model_dump())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EpisodeResponse)
async def create_episode(
    body: CreateEpisode, tenant_id: TenantId, sessions: SessionsDep, events: EventsDep
) -> EpisodeResponse:
    stored = await record_episode(sessions, events, tenant_id, _new(body))
    return EpisodeResponse.model_validate(stored)


@router.post("/batch", status_code=status.HTTP_201_CREATED, response_model=BatchCreateResponse)
async def create_episodes_batch(
    body: CreateEpisodesBatch, tenant_id: TenantId, sessions: SessionsDep, events: EventsDep
) -> BatchCreateResponse:
    stored = await record_batch(sessions, events, tenant_id, [_new(e) for e in body.episodes])
    episodes = [EpisodeResponse.model_validate(e) for e in stored]
    return BatchCreateResponse(episodes_created=len(episodes), episodes=episodes)
