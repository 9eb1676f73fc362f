"""Memories on the wire."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from statewave_server.api.schemas.common import StoredMetadata, UtcDatetime


class MemoryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: str
    kind: str
    content: str
    summary: str
    confidence: float
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    source_episode_ids: list[uuid.UUID]
    metadata: StoredMetadata
    status: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SearchResponse(BaseModel):
    memories: list[MemoryResponse]
