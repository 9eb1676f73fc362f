"""Add the ``subject_snapshots`` table: named, versioned copies of a subject.

``(name, version)`` is unique (``uq_snapshots_name_version``; made tenant-scoped by 0008).
Downgrade drops the table (the snapshot records; the hidden copied subjects stay in
``episodes``/``memories``).

Revision ID: 0006_add_subject_snapshots
Revises: 0005_webhook_events
"""

from __future__ import annotations

from schema_helpers import int_column, json_column, string_column, timestamp_now, uuid_column
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

from alembic import op

revision = "0006_add_subject_snapshots"
down_revision = "0005_webhook_events"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "subject_snapshots",
        uuid_column(generated=True),
        string_column("name", 256),
        int_column("version", 1),
        string_column("source_subject_id", 256),
        int_column("episode_count", 0),
        int_column("memory_count", 0),
        json_column("metadata"),
        timestamp_now("created_at"),
        PrimaryKeyConstraint("id", name="subject_snapshots_pkey"),
        UniqueConstraint("name", "version", name="uq_snapshots_name_version"),
    )


def downgrade() -> None:
    op.drop_table("subject_snapshots")
