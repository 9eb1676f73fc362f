"""Tool results: small on purpose, since every byte lands in a model's context window.

Lists are capped by the argument bounds, stored texts are clipped (``clip``), episode
payloads and memory metadata are left out (the ids lead back to them), so a result's size
does not grow with what was stored. (A resolution comes back as on ``/v1``: its fields
are the caller's own, bounded by the argument limits.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import BaseModel

from statewave_server.api.schemas.common import UtcDatetime
from statewave_server.api.schemas.context import ContextProvenance
from statewave_server.db.models import Episode, Memory
from statewave_server.services.compiler.drafts import episode_text

MEMORY_CHARS = 500
EPISODE_CHARS = 300
SUMMARY_CHARS = 500
SOURCE_IDS = 5
COMPILED_LISTED = 20


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RecordedEpisode(BaseModel):
    id: uuid.UUID
    subject_id: str
    session_id: str | None
    occurred_at: UtcDatetime

    @classmethod
    def of(cls, episode: Episode) -> RecordedEpisode:
        return cls(
            id=episode.id,
            subject_id=episode.subject_id,
            session_id=episode.session_id,
            occurred_at=episode.occurred_at,
        )


class RecordedEpisodes(BaseModel):
    episodes_created: int
    episodes: list[RecordedEpisode]


class MemoryItem(BaseModel):
    id: uuid.UUID
    kind: str
    content: str
    confidence: float
    valid_from: UtcDatetime
    source_episode_ids: list[uuid.UUID]

    @classmethod
    def of(cls, memory: Memory) -> MemoryItem:
        return cls(
            id=memory.id,
            kind=memory.kind,
            content=clip(memory.content, MEMORY_CHARS),
            confidence=round(memory.confidence, 3),
            valid_from=memory.valid_from,
            source_episode_ids=list(memory.source_episode_ids)[:SOURCE_IDS],
        )


def memory_items(memories: Sequence[Memory]) -> list[MemoryItem]:
    return [MemoryItem.of(m) for m in memories]


class Compiled(BaseModel):
    subject_id: str
    memories_created: int
    memories: list[MemoryItem]
    """The first ``COMPILED_LISTED`` of them; search for the rest."""


class Context(BaseModel):
    subject_id: str
    assembled_context: str
    token_estimate: int
    provenance: ContextProvenance


class Memories(BaseModel):
    memories: list[MemoryItem]


class TimelineEpisode(BaseModel):
    id: uuid.UUID
    session_id: str | None
    source: str
    type: str
    occurred_at: UtcDatetime
    text: str

    @classmethod
    def of(cls, episode: Episode) -> TimelineEpisode:
        return cls(
            id=episode.id,
            session_id=episode.session_id,
            source=episode.source,
            type=episode.type,
            occurred_at=episode.occurred_at,
            text=clip(episode_text(episode.payload), EPISODE_CHARS),
        )


class Timeline(BaseModel):
    subject_id: str
    episodes: list[TimelineEpisode]
    memories: list[MemoryItem]
    episodes_has_more: bool
    memories_has_more: bool


class Handoff(BaseModel):
    subject_id: str
    session_id: str
    handoff_notes: str
    token_estimate: int
    health_state: str
    health_score: int
    provenance: dict[str, list[str]]


class Deleted(BaseModel):
    subject_id: str
    episodes_deleted: int
    memories_deleted: int
