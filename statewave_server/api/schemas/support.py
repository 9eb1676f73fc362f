"""Resolutions, handoff packs, health and SLA on the wire (the SDK's models)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from statewave_server.api.schemas.common import (
    JsonObject,
    SessionId,
    StoredMetadata,
    SubjectId,
    UtcDatetime,
)

ResolutionStatus = Literal["open", "resolved", "unresolved"]


class CreateResolution(BaseModel):
    """Upsert body; unknown fields are ignored (SDK forward compatibility)."""

    subject_id: SubjectId
    session_id: SessionId
    status: ResolutionStatus = "open"
    resolution_summary: Annotated[str, StringConstraints(max_length=2000)] | None = None
    metadata: JsonObject = Field(default_factory=dict)


class ResolutionResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject_id: str
    session_id: str
    status: str
    resolution_summary: str | None
    resolved_at: UtcDatetime | None
    metadata: StoredMetadata
    created_at: UtcDatetime
    updated_at: UtcDatetime


class HandoffRequest(BaseModel):
    """Handoff body; the SDK's receipt/caller fields are accepted and ignored."""

    subject_id: SubjectId
    session_id: SessionId
    reason: Annotated[str, StringConstraints(max_length=256)] = "escalation"
    max_tokens: int = Field(default=4000, ge=1, le=16_000)


class HealthEvidence(BaseModel):
    """What the customer said that raised a phrase signal (``churn_threat``…)."""

    model_config = ConfigDict(from_attributes=True)

    episode_id: uuid.UUID
    session_id: str | None
    occurred_at: UtcDatetime
    quote: str


class HealthFactorResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    signal: str
    impact: int
    detail: str
    evidence: list[HealthEvidence] = Field(default_factory=list)


class HealthResponse(BaseModel):
    subject_id: str
    score: int
    state: str
    factors: list[HealthFactorResponse]


class ResolutionSummaryItem(BaseModel):
    session_id: str
    status: str
    summary: str | None
    resolved_at: UtcDatetime | None


class HandoffResponse(BaseModel):
    subject_id: str
    session_id: str
    reason: str
    generated_at: UtcDatetime
    customer_summary: str
    active_issue: str
    attempted_steps: list[str]
    key_facts: list[str]
    resolution_history: list[ResolutionSummaryItem]
    recent_context: list[str]
    health_score: int
    health_state: str
    health_factors: list[HealthFactorResponse]
    handoff_notes: str
    token_estimate: int
    provenance: dict[str, list[str]]


class SessionSlaResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    session_id: str
    status: str
    first_message_at: UtcDatetime | None
    first_response_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    first_response_seconds: float | None
    resolution_seconds: float | None
    open_duration_seconds: float | None
    first_response_breached: bool
    resolution_breached: bool


class SlaSummaryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    total_sessions: int
    resolved_sessions: int
    open_sessions: int
    avg_first_response_seconds: float | None
    avg_resolution_seconds: float | None
    first_response_breach_count: int
    resolution_breach_count: int
    sessions: list[SessionSlaResponse]
