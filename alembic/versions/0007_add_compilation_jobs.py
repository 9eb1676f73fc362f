"""Add the ``compilation_jobs`` table: durable compilation jobs claimed by workers.

Workers claim ``pending`` rows whose ``run_after`` has passed (``ix_compilation_jobs_claim``)
with ``FOR UPDATE SKIP LOCKED``, record ``claimed_at``/``claimed_by`` and refresh
``heartbeat_at``; ``attempts``/``max_attempts`` drive retries with backoff. Downgrade drops
the table and any queued or finished jobs in it.

Revision ID: 0007_add_compilation_jobs
Revises: 0006_add_subject_snapshots
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import int_column, json_column, string_column, timestamp, timestamp_now

from alembic import op

revision = "0007_add_compilation_jobs"
down_revision = "0006_add_subject_snapshots"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "compilation_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        string_column("subject_id", 256),
        string_column("kind", 64, default="compile"),
        json_column("payload"),
        string_column("status", 20, default="pending"),
        int_column("attempts", 0),
        int_column("max_attempts", 3),
        timestamp_now("run_after"),
        timestamp("claimed_at"),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        timestamp("heartbeat_at"),
        int_column("memories_created", 0),
        json_column("result"),
        sa.Column("error", sa.Text(), nullable=True),
        timestamp_now("created_at"),
        timestamp("started_at"),
        timestamp("completed_at"),
        sa.PrimaryKeyConstraint("id", name="compilation_jobs_pkey"),
    )
    op.create_index("ix_compilation_jobs_claim", "compilation_jobs", ["status", "run_after"])
    op.create_index("ix_compilation_jobs_subject", "compilation_jobs", ["subject_id"])
    op.create_index("ix_compilation_jobs_created_at", "compilation_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_table("compilation_jobs")
