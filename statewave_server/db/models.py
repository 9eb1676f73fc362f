"""The tables of the 0.6.1 schema (Alembic head ``0012_add_health_cache``).

Every table that holds a subject's data is keyed ``(tenant_id, subject_id, …)`` so a
distributed PostgreSQL can shard it by that key. ``tenant_id`` is ``''`` for the default
tenant (requests without a tenant header), never NULL, so it can lead a primary key.
A test asserts that these models and the migrated schema are identical.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from statewave_server.db.vector_type import FastVector
from statewave_server.times import clamped

DEFAULT_TENANT = ""
# ``embedding_model`` of vectors that came from the original Statewave (adopted databases):
# they never compare with this server's; ``statewave embeddings backfill`` replaces them.
ORIGINAL_EMBEDDING_MODEL = "statewave-0.6.1-original"


class Base(DeclarativeBase):
    """Declarative base for all Statewave tables."""


class Timestamp(TypeDecorator[datetime]):
    """``timestamptz`` read back always aware and in range: a ``±infinity`` stored by an
    older version (or by hand) would otherwise break every reader of its subject."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clamped(value)


def _tenant() -> Mapped[str]:
    return mapped_column(String(256), nullable=False, server_default=text("''"))


def _created_at() -> Mapped[datetime]:
    return mapped_column(Timestamp(), nullable=False, server_default=func.now())


def _json_object() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


class Episode(Base):
    """An append-only raw event (message, tool call, ticket) about a subject."""

    __tablename__ = "episodes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "subject_id", "id", name="episodes_pkey"),
        Index("ix_episodes_id", "id"),
        Index("ix_episodes_tenant_subject_created", "tenant_id", "subject_id", "created_at"),
        Index(
            "ix_episodes_uncompiled",
            "tenant_id",
            "subject_id",
            postgresql_where=text("last_compiled_at IS NULL"),
        ),
        Index("ix_episodes_tenant_subject_session", "tenant_id", "subject_id", "session_id"),
        Index("ix_episodes_tenant_subject_occurred", "tenant_id", "subject_id", "occurred_at"),
        Index(
            "uq_episodes_idempotency_key",
            "tenant_id",
            "subject_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tenant_id: Mapped[str] = _tenant()
    subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    type: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    provenance: Mapped[dict[str, Any]] = _json_object()
    created_at: Mapped[datetime] = _created_at()
    last_compiled_at: Mapped[datetime | None] = mapped_column(Timestamp())
    session_id: Mapped[str | None] = mapped_column(String(256))
    # When the event happened (clients may import history); created_at is the write time.
    occurred_at: Mapped[datetime] = _created_at()
    # Client-chosen key: a retried write with the same key is stored once.
    idempotency_key: Mapped[str | None] = mapped_column(String(256))


class Memory(Base):
    """A typed memory compiled from episodes, with provenance, confidence and embedding.

    ``embedding`` has no fixed dimension: several models may coexist, told apart by
    ``embedding_model``; queries compare only vectors of the same model. Its storage is
    ``MAIN`` and the table's ``toast_tuple_target`` 4080 (rows up to 4 kB stay whole in
    the heap, not TOASTed; set by revision 0004 and, for ``create_all``, by the
    after_create listener below).
    """

    __tablename__ = "memories"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "subject_id", "id", name="memories_pkey"),
        Index("ix_memories_id", "id"),
        Index("ix_memories_tenant_subject_kind", "tenant_id", "subject_id", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tenant_id: Mapped[str] = _tenant()
    subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    # Generated by PostgreSQL (never written by the app); full-text queries match and rank
    # on it. Deferred: only SQL reads it, so loading a Memory never fetches it.
    content_tsv: Mapped[str | None] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('english'::regconfig, content)", persisted=True),
        deferred=True,
    )
    summary: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    confidence: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("1"))
    valid_from: Mapped[datetime] = _created_at()
    valid_to: Mapped[datetime | None] = mapped_column(Timestamp())
    source_episode_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="active")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp(), nullable=False, server_default=func.now(), onupdate=func.now()
    )
    embedding: Mapped[Any | None] = mapped_column(FastVector())
    embedding_model: Mapped[str | None] = mapped_column(String(128))


# SQLAlchemy has no column storage option: mirror revision 0004's storage settings.
@event.listens_for(Memory.__table__, "after_create")
def _memory_storage(_table: Table, connection: Connection, **_: Any) -> None:
    connection.exec_driver_sql(
        "ALTER TABLE memories ALTER COLUMN embedding SET STORAGE MAIN, "
        "SET (toast_tuple_target = 4080)"
    )


class WebhookEvent(Base):
    """The durable webhook outbox: written with the change it announces, delivered later."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_events_tenant", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    tenant_id: Mapped[str] = _tenant()
    event: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("5"))
    next_attempt_at: Mapped[datetime] = _created_at()
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp())
    last_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp())
    last_error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created_at()
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp())


class SubjectSnapshot(Base):
    """A named, versioned copy of a subject kept under a hidden subject id."""

    __tablename__ = "subject_snapshots"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version", name="uq_snapshots_tenant_name_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()
    )
    tenant_id: Mapped[str] = _tenant()
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    source_subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    episode_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    memory_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _created_at()


class Job(Base):
    """A durable job row (any kind: ``compile``, ``noop``, ``sleep``) in the table the
    0.6.1 schema names ``compilation_jobs``; claimed with ``FOR UPDATE SKIP LOCKED``.

    Status: ``pending`` → ``running`` → ``completed``; a failure goes back to ``pending``
    (with backoff) until ``max_attempts``, then ``dead``. A ``running`` job whose
    heartbeat (or claim) is older than the orphan timeout returns to ``pending``.
    """

    __tablename__ = "compilation_jobs"
    __table_args__ = (
        Index("ix_compilation_jobs_claim", "status", "run_after"),
        Index("ix_compilation_jobs_tenant_subject", "tenant_id", "subject_id"),
        Index("ix_compilation_jobs_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = _tenant()
    subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False, server_default="compile")
    payload: Mapped[dict[str, Any]] = _json_object()
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("3"))
    run_after: Mapped[datetime] = _created_at()
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp())
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp())
    memories_created: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    result: Mapped[dict[str, Any]] = _json_object()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(Timestamp())
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp())


class RateLimitHit(Base):
    """One fixed rate-limit window's counter, shared by every API process."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_window", "window_start"),)

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hit_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    updated_at: Mapped[datetime] = _created_at()


class Resolution(Base):
    """How a support session ended; one row per (tenant, subject, session)."""

    __tablename__ = "resolutions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "subject_id", "id", name="resolutions_pkey"),
        UniqueConstraint(
            "tenant_id", "subject_id", "session_id", name="uq_resolutions_tenant_subject_session"
        ),
        Index("ix_resolutions_tenant_subject_status", "tenant_id", "subject_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tenant_id: Mapped[str] = _tenant()
    subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    session_id: Mapped[str] = mapped_column(String(256), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="open")
    resolution_summary: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp())
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp(), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class SubjectHealthCache(Base):
    """The last health state seen per subject, so alerts fire once per transition."""

    __tablename__ = "subject_health_cache"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "subject_id", name="subject_health_cache_pkey"),
    )

    tenant_id: Mapped[str] = _tenant()
    subject_id: Mapped[str] = mapped_column(String(256), nullable=False)
    last_state: Mapped[str] = mapped_column(String(32), nullable=False)
    last_score: Mapped[int] = mapped_column(Integer, nullable=False)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    updated_at: Mapped[datetime] = _created_at()
