"""``POST /v1/episodes`` and ``POST /v1/episodes/batch``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Header, status

from statewave_server.api.deps import DbDep, EventsDep, TenantId
from statewave_server.api.schemas.episodes import (
    HEADER_KEY_PREFIX,
    BatchCreateResponse,
    CreateEpisode,
    CreateEpisodesBatch,
    EpisodeResponse,
)
from statewave_server.errors import InvalidIdempotencyKey
from statewave_server.services.episodes import NewEpisode, record_batch, record_episode

router = APIRouter(prefix="/v1/episodes", tags=["episodes"])

MAX_IDEMPOTENCY_KEY_LENGTH = 200

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=(
            "Optional request key (1-200 printable characters). Each episode without its "
            "own `idempotency_key` gets `$hdr:<header>:<index>` (its position in the "
            "request; body keys cannot start with `$hdr:`), so retrying the identical "
            "request stores nothing new and returns the stored episodes; reusing it for "
            "different content is a 409 `idempotency_conflict`."
        ),
    ),
]


def _request_key(header: str | None) -> str | None:
    """The validated ``Idempotency-Key`` header, or None when absent."""
    if header is None:
        return None
    if not 1 <= len(header) <= MAX_IDEMPOTENCY_KEY_LENGTH or not header.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters."
        )
    return header


def _new(item: CreateEpisode, request_key: str | None = None, index: int = 0) -> NewEpisode:
    episode = NewEpisode(**item.model_dump())
    if request_key is not None and episode.idempotency_key is None:
        return replace(episode, idempotency_key=f"{HEADER_KEY_PREFIX}{request_key}:{index}")
    return episode


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EpisodeResponse)
async def create_episode(
    body: CreateEpisode,
    tenant_id: TenantId,
    db: DbDep,
    events: EventsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> EpisodeResponse:
    """Record one episode.

    With an ``Idempotency-Key`` header (1-200 printable characters; otherwise 400
    ``invalid_idempotency_key``) an episode without its own ``idempotency_key`` is keyed
    ``$hdr:<header>:0``: a retry of the same request answers 201 with the stored episode
    and stores nothing new. A key in the body wins over the header. A key that already
    names different content is a 409 ``idempotency_conflict``.
    """
    key = _request_key(idempotency_key)
    stored = await record_episode(db, events, tenant_id, _new(body, key))
    return EpisodeResponse.model_validate(stored)


@router.post("/batch", status_code=status.HTTP_201_CREATED, response_model=BatchCreateResponse)
async def create_episodes_batch(
    body: CreateEpisodesBatch,
    tenant_id: TenantId,
    db: DbDep,
    events: EventsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BatchCreateResponse:
    """Record 1-100 episodes atomically.

    With an ``Idempotency-Key`` header (1-200 printable characters; otherwise 400
    ``invalid_idempotency_key``) every episode without its own ``idempotency_key`` is keyed
    ``$hdr:<header>:<index>`` (its position in the batch), so a client that retries the
    identical batch after a timeout or a dropped connection gets 201 with the same
    episodes and nothing is stored twice. Keys are unique per tenant and subject; a key
    (header-derived or in the body, also twice in one batch) that names different
    content is a 409 ``idempotency_conflict`` and nothing of the batch is stored.
    ``episodes_created`` counts the new rows only.
    """
    key = _request_key(idempotency_key)
    new = [_new(e, key, index) for index, e in enumerate(body.episodes)]
    recorded = await record_batch(db, events, tenant_id, new)
    episodes = [EpisodeResponse.model_validate(e) for e in recorded.episodes]
    return BatchCreateResponse(episodes_created=recorded.created, episodes=episodes)
