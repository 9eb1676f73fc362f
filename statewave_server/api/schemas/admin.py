"""Wire models of ``/admin/*`` (request bodies and the typed responses)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from statewave_server.api.schemas.common import NO_NUL, JsonObject, StoredMetadata, UtcDatetime

TenantField = Annotated[str, StringConstraints(max_length=256, pattern=NO_NUL)]
SubjectField = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
MAX_INT = 2**31 - 1
ConflictStrategy = Literal["create_copy", "merge", "cancel"]


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class SubjectItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    tenant_id: str
    episode_count: int
    memory_count: int
    session_count: int
    last_episode_at: UtcDatetime | None
    health_state: str | None
    health_score: int | None
    open_sessions: int


class SubjectsPage(Page):
    subjects: list[SubjectItem]


class AdminMemory(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    content: str
    summary: str
    confidence: float
    status: str
    source_episode_ids: list[uuid.UUID]
    metadata: StoredMetadata
    embedding_model: str | None
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class MemoriesPage(Page):
    memories: list[AdminMemory]


Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]


class RetireMemoryBody(BaseModel):
    tenant_id: TenantField = ""
    reason: Reason


class MemoryIds(BaseModel):
    ids: list[uuid.UUID]


class CorrectMemoryBody(RetireMemoryBody):
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=NO_NUL)]


class MemoryEditResponse(BaseModel):
    """The edited memory and, for a correction, the memory that replaced it."""

    memory: AdminMemory
    replacement: AdminMemory | None = None


class AdminEpisode(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    session_id: str | None
    source: str
    type: str
    payload: JsonObject
    metadata: StoredMetadata
    provenance: JsonObject
    idempotency_key: str | None
    occurred_at: UtcDatetime
    created_at: UtcDatetime
    last_compiled_at: UtcDatetime | None


class EpisodesPage(Page):
    episodes: list[AdminEpisode]


class JobItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    job_id: str = Field(validation_alias=AliasChoices("id", "job_id"))
    kind: str
    subject_id: str
    tenant_id: str
    status: str
    attempts: int
    max_attempts: int
    memories_created: int
    error: str | None
    claimed_by: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    heartbeat_at: UtcDatetime | None
    completed_at: UtcDatetime | None


class JobDetail(JobItem):
    payload: JsonObject
    result: JsonObject
    run_after: UtcDatetime


class JobsPage(Page):
    jobs: list[JobItem]


class Purged(BaseModel):
    """A purge's outcome: ``matched`` rows fit the filter; ``deleted`` is 0 on a dry run."""

    deleted: int
    matched: int
    dry_run: bool


JobId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


class RetryJobsBody(BaseModel):
    """Either ``job_ids`` (dead jobs to retry) or ``all_dead: true``, not both."""

    model_config = ConfigDict(extra="forbid")

    job_ids: list[JobId] | None = Field(default=None, min_length=1, max_length=1000)
    all_dead: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> RetryJobsBody:
        if (self.job_ids is None) == (not self.all_dead):
            raise ValueError('give either "job_ids" or "all_dead": true')
        return self


class RetryJobsResponse(BaseModel):
    retried: list[str]
    not_retried: list[str]


class RescueJobsBody(BaseModel):
    """Rescue running jobs silent this long (default: ``STATEWAVE_JOB_ORPHAN_AFTER_SECONDS``)."""

    model_config = ConfigDict(extra="forbid")

    older_than_seconds: float | None = Field(default=None, ge=0, le=31_536_000)


class RescueJobsResponse(BaseModel):
    older_than_seconds: float
    requeued: list[str]
    dead: list[str]


class DeleteFilterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id_prefix: TenantField | None = None
    older_than_days: float | None = Field(default=None, ge=0, le=36_500, allow_inf_nan=False)
    tenant_id: TenantField | None = None
    match_all: bool = False


class BulkDeleteBody(DeleteFilterBody):
    confirm: bool = False
    expected_count: int = Field(ge=0, le=MAX_INT)


class MatchItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    tenant_id: str
    episode_count: int
    memory_count: int
    last_episode_at: UtcDatetime | None


class PreviewResponse(BaseModel):
    matched: int
    sample: list[MatchItem]
    total_episodes: int
    total_memories: int


class DeletedSubject(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    tenant_id: str
    episodes_deleted: int
    memories_deleted: int
    snapshots_deleted: int = 0


class BulkDeleteResponse(BaseModel):
    deleted_subjects: int
    deleted_episodes: int
    deleted_memories: int
    subjects: list[DeletedSubject]
    failed: list[str] = Field(default_factory=list)


class ImportBody(BaseModel):
    document: JsonObject
    target_subject_id: SubjectField | None = None
    target_tenant_id: TenantField | None = None
    preserve_ids: bool = True


class ImportResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    tenant_id: str
    episodes_imported: int
    episodes_skipped: int
    memories_imported: int
    memories_skipped: int
    resolutions_imported: int
    memories_embedded: int
    ids_preserved: bool


class SnapshotItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: str
    name: str
    version: int
    source_subject_id: str
    episode_count: int
    memory_count: int
    metadata: StoredMetadata
    created_at: UtcDatetime


class CreateSnapshotBody(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\x00]+$")]
    source_subject_id: SubjectField
    version: int = Field(default=1, ge=1, le=MAX_INT)
    metadata: JsonObject | None = None
    tenant_id: TenantField = ""


class RestoreBody(BaseModel):
    target_subject_id: SubjectField
    tenant_id: TenantField = ""


class RestoreByNameBody(RestoreBody):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
    version: int | None = Field(default=None, ge=1, le=MAX_INT)


class PackImportBody(BaseModel):
    pack_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_NUL)]
    target_subject_id: ShortText | None = None
    target_display_name: ShortText | None = None
    target_tenant_id: TenantField = ""
    conflict_strategy: ConflictStrategy = "create_copy"
    allow_reserved_target: bool = False


class CloneBody(BaseModel):
    source_subject_id: SubjectField
    source_tenant_id: TenantField = ""
    target_subject_id: ShortText | None = None
    target_display_name: ShortText | None = None
    target_tenant_id: TenantField | None = None
    clone_scope: Literal[
        "episodes", "memories", "episodes_and_memories", "episodes_memories_sources"
    ] = "episodes_memories_sources"


class PayloadExportBody(BaseModel):
    subject_ids: list[SubjectField]
    tenant_id: TenantField = ""
    export_scope: Literal["episodes", "memories", "episodes_and_memories", "full"] = "full"


class PayloadImportBody(BaseModel):
    payload: JsonObject
    target_tenant_id: TenantField = ""
    conflict_strategy: ConflictStrategy = "create_copy"


# --- /admin/webhooks (the outbox) -------------------------------------------------


class WebhookEventResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    tenant_id: str
    status: str
    attempts: int
    max_attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    http_status: int | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookAttempt(BaseModel):
    """One HTTP attempt from the attempt log."""

    model_config = ConfigDict(from_attributes=True)

    attempt: int
    attempted_at: datetime
    http_status: int | None
    duration_ms: int
    error: str | None
    response_snippet: str | None


class WebhookEventDetail(WebhookEventResponse):
    payload: dict[str, Any]
    claimed_at: datetime | None
    # Oldest first; null when the log's table does not exist yet (``alembic upgrade head``).
    attempt_log: list[WebhookAttempt] | None = None

    @classmethod
    def of(cls, event: object, attempts: Sequence[Mapping[str, Any]] | None) -> WebhookEventDetail:
        """The wire form of an outbox row (any object with its attributes) and its log."""
        log = None if attempts is None else [WebhookAttempt.model_validate(a) for a in attempts]
        return cls.model_validate(event).model_copy(update={"attempt_log": log})


class WebhookEventsPage(BaseModel):
    events: list[WebhookEventResponse]
    total: int
    limit: int
    offset: int


class WebhookStats(BaseModel):
    pending: int
    delivering: int
    delivered: int
    dead_letter: int
    total: int


class RedriveRequest(BaseModel):
    """Either ``event_ids`` (dead letters to retry) or ``all_dead: true``, not both."""

    model_config = ConfigDict(extra="forbid")

    event_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=1000)
    all_dead: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> RedriveRequest:
        if (self.event_ids is None) == (not self.all_dead):
            raise ValueError('give either "event_ids" or "all_dead": true')
        return self


class RedriveResponse(BaseModel):
    redriven: int
    event_ids: list[uuid.UUID]
