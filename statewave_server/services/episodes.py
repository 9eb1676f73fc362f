"""Recording episodes: append-only, one transaction per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.episodes import insert_episodes
from statewave_server.db.models import Episode
from statewave_server.services.events import EventSink


@dataclass(frozen=True)
class NewEpisode:
    subject_id: str
    source: str
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


async def record_episode(
    sessions: async_sessionmaker[AsyncSession],
    events: EventSink,
    tenant_id: str,
    episode: NewEpisode,
) -> Episode:
    """Store one episode and announce ``episode.created`` (a repeated idempotency key
    returns the stored episode and announces nothing)."""
    async with sessions.begin() as session:
        result = await insert_episodes(session, [_row(tenant_id, episode, datetime.now(UTC))])
        [stored] = result.episodes
        if result.created:
            data = {"id": str(stored.id), "subject_id": stored.subject_id}
            await events.emit(session, tenant_id, "episode.created", data)
    return stored


async def record_batch(
    sessions: async_sessionmaker[AsyncSession],
    events: EventSink,
    tenant_id: str,
    episodes: Sequence[NewEpisode],
) -> list[Episode]:
    """Store all episodes atomically (one multi-row insert); announce one batch event for
    the newly stored ones. Episodes without an event time share one: the batch's (as with
    the original server), so recency never ranks them by their order inside the batch."""
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        result = await insert_episodes(session, [_row(tenant_id, e, now) for e in episodes])
        if result.created:
            subjects = sorted({e.subject_id for e in result.created})
            data = {"count": len(result.created), "subject_ids": subjects}
            await events.emit(session, tenant_id, "episodes.batch_created", data)
    return result.episodes


def _row(tenant_id: str, episode: NewEpisode, now: datetime) -> dict[str, Any]:
    row = asdict(episode)
    row["metadata_"] = row.pop("metadata")
    if row["occurred_at"] is None:
        row["occurred_at"] = now  # no event time given: it happened now
    return {"tenant_id": tenant_id, **row}
