"""Recording episodes: append-only, one transaction per request.

An idempotency key names one episode: a write that repeats a stored key with the same
content replays the stored episode; with different content it is refused
(:class:`IdempotencyConflict`, nothing of the request stored). The stored row itself is
what the new content is compared with, so no separate body hash is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.episodes import insert_episodes
from statewave_server.db.models import Episode
from statewave_server.db.rows import NewEpisodeRow
from statewave_server.errors import IdempotencyConflict
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

    def same_as(self, stored: Episode) -> bool:
        """True when ``stored`` holds this content (``occurred_at`` only if given: a
        retry without it cannot repeat the time the first attempt defaulted to)."""
        return (
            (stored.source, stored.type, stored.session_id)
            == (self.source, self.type, self.session_id)
            and _same_json(
                [stored.payload, stored.metadata_, stored.provenance],
                [self.payload, self.metadata, self.provenance],
            )
            and (self.occurred_at is None or stored.occurred_at == self.occurred_at)
        )


@dataclass(frozen=True)
class Recorded:
    """Every requested episode in request order, and how many of them are new rows."""

    episodes: list[Episode]
    created: int


async def record_episode(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    tenant_id: str,
    episode: NewEpisode,
) -> Episode:
    """Store one episode and announce ``episode.created`` (a repeated idempotency key
    returns the stored episode and announces nothing)."""
    async with db.begin() as session:
        result = await insert_episodes(session, [_row(tenant_id, episode, datetime.now(UTC))])
        _check_replays([episode], result.episodes, result.created)
        [stored] = result.episodes
        if result.created:
            data = {"id": str(stored.id), "subject_id": stored.subject_id}
            await events.emit(session, tenant_id, "episode.created", data)
    return stored


async def record_batch(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    tenant_id: str,
    episodes: Sequence[NewEpisode],
) -> Recorded:
    """Store all episodes atomically (one multi-row insert); announce one batch event for
    the newly stored ones. Episodes without an event time share one: the batch's (as with
    the original server), so recency never ranks them by their order inside the batch."""
    now = datetime.now(UTC)
    async with db.begin() as session:
        result = await insert_episodes(session, [_row(tenant_id, e, now) for e in episodes])
        _check_replays(episodes, result.episodes, result.created)
        if result.created:
            subjects = sorted({e.subject_id for e in result.created})
            data = {"count": len(result.created), "subject_ids": subjects}
            await events.emit(session, tenant_id, "episodes.batch_created", data)
    return Recorded(result.episodes, len(result.created))


def _check_replays(
    requested: Sequence[NewEpisode], stored: Sequence[Episode], created: Sequence[Episode]
) -> None:
    """Raise (rolling the request back) when a key already names different content,
    stored before or earlier in the same request."""
    new_ids = {e.id for e in created}
    seen: set[uuid.UUID] = set()
    for want, got in zip(requested, stored, strict=True):
        fresh = got.id in new_ids and got.id not in seen
        seen.add(got.id)
        if fresh or want.same_as(got):
            continue
        raise IdempotencyConflict(
            f"Idempotency key {want.idempotency_key!r} already names a different episode; "
            "use a new key for new content.",
            details={"idempotency_key": want.idempotency_key, "episode_id": str(got.id)},
        )


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality as PostgreSQL keeps it: numbers by value (``jsonb`` may give back
    ``1e300`` as an integer), objects by keys, arrays in order."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return a == b or float(a) == float(b)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _row(tenant_id: str, episode: NewEpisode, now: datetime) -> NewEpisodeRow:
    return NewEpisodeRow(
        tenant_id=tenant_id,
        subject_id=episode.subject_id,
        source=episode.source,
        type=episode.type,
        payload=episode.payload,
        metadata=episode.metadata,
        provenance=episode.provenance,
        session_id=episode.session_id,
        occurred_at=episode.occurred_at or now,  # no event time given: it happened now
        idempotency_key=episode.idempotency_key,
    )
