"""The lossless backup document: records, canonical checksum, and verification.

Document (``format_version`` 2.0)::

    {format: "statewave-backup", format_version: "2.0", exported_at, subject_id, tenant_id,
     counts: {episodes, memories, resolutions}, episodes: [...], memories: [...],
     resolutions: [...], health: {...} | null, checksum}

``checksum`` is the SHA-256 hex digest of the canonical JSON (sorted keys, no spaces,
UTF-8) of ``{subject_id, tenant_id, episodes, memories, resolutions, health}``.

The original Statewave's format (``format_version`` 1.0) is read and written too, so a
deployment can move either way: its ``tenant_id`` is null for the default tenant, each
memory's ``embedding`` a string (``"[0.1, -0.2]"``) or null, its checksum the SHA-256 of
``json.dumps({episodes, memories}, sort_keys=True)``; it has no resolutions or health.
Vectors of a 1.0 document are never kept on import (they came from the original's model):
the import embeds those memories with the configured model.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from statewave_server.db.admin_queries.subject_rows import SubjectRows
from statewave_server.db.models import (
    ORIGINAL_EMBEDDING_MODEL,
    Episode,
    Memory,
    Resolution,
    SubjectHealthCache,
)
from statewave_server.errors import BadRequest
from statewave_server.times import EventTime

FORMAT = "statewave-backup"
FORMAT_VERSION = "2.0"
LEGACY_VERSION = "1.0"
CHECKSUMMED = ("subject_id", "tenant_id", "episodes", "memories", "resolutions", "health")


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


R = TypeVar("R", bound=_Record)


class EpisodeRecord(_Record):
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = Field(default=None, max_length=256)
    occurred_at: EventTime | None = None
    idempotency_key: str | None = Field(default=None, max_length=256)
    created_at: EventTime
    last_compiled_at: EventTime | None = None


class MemoryRecord(_Record):
    id: uuid.UUID
    kind: str = Field(min_length=1, max_length=64)
    content: str
    summary: str = ""
    confidence: float = Field(default=1.0, allow_inf_nan=False)
    valid_from: EventTime
    valid_to: EventTime | None = None
    source_episode_ids: list[uuid.UUID] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: str = Field(default="active", max_length=32)
    embedding: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None, min_length=1, max_length=16_000
    )
    embedding_model: str | None = Field(default=None, max_length=128)
    created_at: EventTime
    updated_at: EventTime

    @model_validator(mode="after")
    def _vector_needs_model(self) -> MemoryRecord:
        if self.embedding is not None and not self.embedding_model:
            self.embedding = None  # a vector of an unknown model is never comparable
        return self


class ResolutionRecord(_Record):
    id: uuid.UUID
    session_id: str = Field(min_length=1, max_length=256)
    status: str = Field(default="open", max_length=32)
    resolution_summary: str | None = None
    resolved_at: EventTime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: EventTime
    updated_at: EventTime


class HealthRecord(_Record):
    last_state: str = Field(max_length=32)
    last_score: int = Field(ge=-(2**31), le=2**31 - 1)
    factors: list[dict[str, Any]] = Field(default_factory=list)
    updated_at: EventTime


class SubjectContent(_Record):
    """One subject's data, independent of where it is stored."""

    subject_id: str = Field(min_length=1, max_length=256)
    tenant_id: str = Field(default="", max_length=256)
    episodes: list[EpisodeRecord] = Field(default_factory=list)
    memories: list[MemoryRecord] = Field(default_factory=list)
    resolutions: list[ResolutionRecord] = Field(default_factory=list)
    health: HealthRecord | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> SubjectContent:
        for name, ids in (
            ("episode", [e.id for e in self.episodes]),
            ("memory", [m.id for m in self.memories]),
            ("resolution", [r.id for r in self.resolutions]),
            ("resolution session", [r.session_id for r in self.resolutions]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {name} ids")
        return self


def content_of(*, subject_id: str, tenant_id: str, rows: SubjectRows) -> SubjectContent:
    """The stored rows as records (embeddings as plain float lists)."""
    return SubjectContent(
        subject_id=subject_id,
        tenant_id=tenant_id,
        episodes=[_episode(e) for e in rows.episodes],
        memories=[_memory(m) for m in rows.memories],
        resolutions=[_resolution(r) for r in rows.resolutions],
        health=_health(rows.health) if rows.health is not None else None,
    )


def _record(model: type[R], row: Any, **converted: Any) -> R:
    """``model`` filled from the ORM row's attributes of the same names (``metadata`` is
    the row's ``metadata_``); ``converted`` gives the fields that need converting."""
    values = {
        name: getattr(row, "metadata_" if name == "metadata" else name)
        for name in model.model_fields
        if name not in converted
    }
    return model(**values, **converted)


def _episode(row: Episode) -> EpisodeRecord:
    return _record(EpisodeRecord, row)


def _memory(row: Memory) -> MemoryRecord:
    vector = None if row.embedding is None else [float(x) for x in row.embedding]
    return _record(
        MemoryRecord, row, source_episode_ids=list(row.source_episode_ids), embedding=vector
    )


def _resolution(row: Resolution) -> ResolutionRecord:
    return _record(ResolutionRecord, row)


def _health(row: SubjectHealthCache) -> HealthRecord:
    return _record(HealthRecord, row)


def checksum(content: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the checksummed fields of ``content``."""
    subset = {key: content.get(key) for key in CHECKSUMMED}
    canonical = json.dumps(subset, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _legacy_checksum(document: dict[str, Any]) -> str:
    subset = {"episodes": document.get("episodes"), "memories": document.get("memories")}
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    # ``+00:00`` rather than ``Z``: older Pythons' ``fromisoformat`` reads only the former.
    return value.isoformat() if value is not None else None


def _legacy_episode(e: EpisodeRecord, subject_id: str, tenant: str | None) -> dict[str, Any]:
    # The original reads the keys up to last_compiled_at; the rest ride along for our import.
    return {
        "id": str(e.id),
        "subject_id": subject_id,
        "tenant_id": tenant,
        "source": e.source,
        "type": e.type,
        "payload": e.payload,
        "metadata": e.metadata,
        "provenance": e.provenance,
        "created_at": _iso(e.created_at),
        "last_compiled_at": _iso(e.last_compiled_at),
        "occurred_at": _iso(e.occurred_at),
        "session_id": e.session_id,
        "idempotency_key": e.idempotency_key,
    }


def _legacy_embedding(m: MemoryRecord) -> str | None:
    """The original's own vector back as its TEXT; ours (another model) as null."""
    if m.embedding is None or m.embedding_model != ORIGINAL_EMBEDDING_MODEL:
        return None
    return json.dumps(m.embedding)


def _legacy_memory(m: MemoryRecord, subject_id: str, tenant: str | None) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "subject_id": subject_id,
        "tenant_id": tenant,
        "kind": m.kind,
        "content": m.content,
        "summary": m.summary,
        "confidence": m.confidence,
        "valid_from": _iso(m.valid_from),
        "valid_to": _iso(m.valid_to),
        "source_episode_ids": [str(s) for s in m.source_episode_ids],
        "metadata": m.metadata,
        "status": m.status,
        "embedding": _legacy_embedding(m),
        "created_at": _iso(m.created_at),
        "updated_at": _iso(m.updated_at),
    }


def to_legacy_document(
    content: SubjectContent, exported_at: datetime | None = None
) -> dict[str, Any]:
    """The export in the original's format 1.0, which the original 0.6.1 imports."""
    tenant = content.tenant_id or None  # the original's default tenant is NULL
    episodes = [_legacy_episode(e, content.subject_id, tenant) for e in content.episodes]
    memories = [_legacy_memory(m, content.subject_id, tenant) for m in content.memories]
    body = {"episodes": episodes, "memories": memories}
    return {
        "format_version": LEGACY_VERSION,
        "exported_at": (exported_at or datetime.now(UTC)).isoformat(),
        "subject_id": content.subject_id,
        "tenant_id": tenant,
        "counts": {"episodes": len(episodes), "memories": len(memories)},
        **body,
        "checksum": _legacy_checksum(body),
    }


def _legacy_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A verified 1.0 document's fields as ours: vectors dropped (to be re-embedded)."""
    memories = document.get("memories")
    if isinstance(memories, list):
        memories = [
            {**m, "embedding": None, "embedding_model": None} if isinstance(m, dict) else m
            for m in memories
        ]
    fields = {
        "subject_id": document.get("subject_id"),
        "tenant_id": document.get("tenant_id"),
        "episodes": document.get("episodes"),
        "memories": memories,
    }
    return {key: value for key, value in fields.items() if value is not None}


def to_document(content: SubjectContent, exported_at: datetime | None = None) -> dict[str, Any]:
    """The export document (JSON-ready) with its checksum."""
    body = content.model_dump(mode="json")
    counts = {name: len(body[name]) for name in ("episodes", "memories", "resolutions")}
    when = (exported_at or datetime.now(UTC)).isoformat()
    head = {"format": FORMAT, "format_version": FORMAT_VERSION, "exported_at": when}
    return {**head, **body, "counts": counts, "checksum": checksum(body)}


def from_document(document: Any) -> SubjectContent:
    """Verify format and checksum and parse; :class:`BadRequest` says what is wrong."""
    if not isinstance(document, dict):
        raise BadRequest("The backup document must be a JSON object")
    version = document.get("format_version")
    if version == FORMAT_VERSION and document.get("format") == FORMAT:
        expected = checksum(document)
        fields = {key: document.get(key) for key in CHECKSUMMED if document.get(key) is not None}
    elif version == LEGACY_VERSION:
        expected = _legacy_checksum(document)
        fields = _legacy_fields(document)
    elif version is None:
        raise BadRequest(
            "Not a Statewave backup (it has no format_version); "
            "write one with `statewave export SUBJECT` or GET /admin/export/{subject_id}"
        )
    else:
        raise BadRequest(f"Unsupported backup format_version {version!r}; expected 2.0 or 1.0")
    if document.get("checksum") != expected:
        raise BadRequest("Checksum mismatch: the backup file is corrupted or was modified")
    if not document.get("subject_id"):
        raise BadRequest("The backup document has no subject_id")
    try:
        return SubjectContent.model_validate(fields)
    except ValidationError as exc:
        raise BadRequest("Invalid backup document", details=_errors(exc)) from None


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]
