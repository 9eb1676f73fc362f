"""Add the ``webhook_events`` table: the durable outbox of webhook deliveries.

Rows are written with the change they announce and delivered later by claimers
(``status``/``next_attempt_at`` index). Downgrade drops the table and any undelivered
events in it.

Revision ID: 0005_webhook_events
Revises: 0004_embedding_as_text
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import (
    int_column,
    string_column,
    timestamp,
    timestamp_now,
    uuid_column,
)
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0005_webhook_events"
down_revision = "0004_embedding_as_text"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        uuid_column(generated=True),
        string_column("event", 128),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        string_column("status", 32, default="pending"),
        int_column("attempts", 0),
        int_column("max_attempts", 5),
        timestamp_now("next_attempt_at"),
        timestamp("claimed_at"),
        timestamp("last_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        timestamp_now("created_at"),
        timestamp("delivered_at"),
        sa.PrimaryKeyConstraint("id", name="webhook_events_pkey"),
    )
    op.create_index(
        "ix_webhook_events_status_next", "webhook_events", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
