"""Episodes on the wire."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from statewave_server.api.limits import MAX_FIELD_DEPTH, json_depth
from statewave_server.api.schemas.common import (
    NO_NUL,
    JsonObject,
    OptionalSessionId,
    StoredMetadata,
    SubjectId,
    UtcDatetime,
)
from statewave_server.times import EventTime

# Keys derived from the ``Idempotency-Key`` header start with this; client keys may not,
# so the two can never collide.
HEADER_KEY_PREFIX = "$hdr:"


class CreateEpisode(BaseModel):
    """One episode to record; unknown fields are ignored (SDK forward compatibility)."""

    subject_id: SubjectId
    source: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_NUL)]
    payload: JsonObject
    metadata: JsonObject = Field(default_factory=dict)
    provenance: JsonObject = Field(default_factory=dict)
    session_id: OptionalSessionId = None
    occurred_at: EventTime | None = None
    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)] | None
    ) = None

    @field_validator("idempotency_key")
    @classmethod
    def _not_header_derived(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(HEADER_KEY_PREFIX):
            raise ValueError(f"keys starting with {HEADER_KEY_PREFIX!r} are reserved")
        return value

    @field_validator("payload", "metadata", "provenance")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if json_depth(value) > MAX_FIELD_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_FIELD_DEPTH} levels")
        return value


class CreateEpisodesBatch(BaseModel):
    episodes: list[CreateEpisode] = Field(min_length=1, max_length=100)


class EpisodeResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: str
    source: str
    type: str
    payload: JsonObject
    metadata: StoredMetadata
    provenance: JsonObject
    session_id: str | None
    occurred_at: UtcDatetime
    created_at: UtcDatetime


class BatchCreateResponse(BaseModel):
    episodes_created: int = Field(description="How many of ``episodes`` are new rows.")
    episodes: list[EpisodeResponse]
