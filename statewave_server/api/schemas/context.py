"""Context bundles on the wire."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from statewave_server.api.schemas.common import NO_NUL, OptionalSessionId, SubjectId, UtcDatetime
from statewave_server.api.schemas.episodes import EpisodeResponse
from statewave_server.api.schemas.memories import MemoryResponse


class ContextRequest(BaseModel):
    subject_id: SubjectId
    task: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=NO_NUL)]
    max_tokens: int | None = Field(default=None, ge=1, le=128_000)
    session_id: OptionalSessionId = None


class ContextProvenance(BaseModel):
    fact_ids: list[uuid.UUID]
    summary_ids: list[uuid.UUID]
    procedure_ids: list[uuid.UUID]
    episode_ids: list[uuid.UUID]


class SessionInfo(BaseModel):
    session_id: str
    episode_count: int
    first_at: UtcDatetime
    last_at: UtcDatetime


class ContextBundleResponse(BaseModel):
    subject_id: str
    task: str
    facts: list[MemoryResponse]
    episodes: list[EpisodeResponse]
    procedures: list[MemoryResponse]
    provenance: ContextProvenance
    assembled_context: str
    token_estimate: int
    sessions: list[SessionInfo]
