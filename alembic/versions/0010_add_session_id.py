"""Episode columns for session-aware, time-aware and retry-safe ingest.

- ``session_id`` (nullable), indexed as ``ix_episodes_tenant_subject_session``
  ``(tenant_id, subject_id, session_id)``, for session-aware context assembly;
- ``occurred_at`` (NOT NULL, default ``now()``): when the event happened, as opposed to
  ``created_at`` (when it was stored); existing rows take their ``created_at``; indexed as
  ``ix_episodes_tenant_subject_occurred (tenant_id, subject_id, occurred_at)``;
- ``idempotency_key`` (nullable): a client-chosen key, unique per tenant and subject
  (partial unique index ``uq_episodes_idempotency_key``), so a retried write is stored once.

Downgrade drops the indexes and the three columns (episodes lose their session, event
time and idempotency key).

Revision ID: 0010_add_session_id
Revises: 0009_add_rate_limit_table
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010_add_session_id"
down_revision = "0009_add_rate_limit_table"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.add_column("episodes", sa.Column("session_id", sa.String(256), nullable=True))
    op.create_index(
        "ix_episodes_tenant_subject_session",
        "episodes",
        ["tenant_id", "subject_id", "session_id"],
    )
    op.add_column("episodes", sa.Column("occurred_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE episodes SET occurred_at = created_at")
    op.alter_column("episodes", "occurred_at", nullable=False, server_default=sa.text("now()"))
    op.create_index(
        "ix_episodes_tenant_subject_occurred",
        "episodes",
        ["tenant_id", "subject_id", "occurred_at"],
    )
    op.add_column("episodes", sa.Column("idempotency_key", sa.String(256), nullable=True))
    op.create_index(
        "uq_episodes_idempotency_key",
        "episodes",
        ["tenant_id", "subject_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_episodes_idempotency_key", table_name="episodes")
    op.drop_column("episodes", "idempotency_key")
    op.drop_index("ix_episodes_tenant_subject_occurred", table_name="episodes")
    op.drop_column("episodes", "occurred_at")
    op.drop_index("ix_episodes_tenant_subject_session", table_name="episodes")
    op.drop_column("episodes", "session_id")
