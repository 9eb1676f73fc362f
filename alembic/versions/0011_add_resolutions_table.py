"""Add ``resolutions``: how a support session ended, one row per (tenant, subject, session).

Primary key ``(tenant_id, subject_id, id)``; ``uq_resolutions_tenant_subject_session``
enforces one resolution per session in the database (not only in the app); an index on
``(tenant_id, subject_id, status)`` serves open/resolved listings. Downgrade drops the table.

Revision ID: 0011_add_resolutions_table
Revises: 0010_add_session_id
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import (
    json_column,
    string_column,
    tenant_id,
    timestamp,
    timestamp_now,
    uuid_column,
)

from alembic import op

revision = "0011_add_resolutions_table"
down_revision = "0010_add_session_id"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "resolutions",
        uuid_column(),
        tenant_id(),
        string_column("subject_id", 256),
        string_column("session_id", 256),
        string_column("status", 32, default="open"),
        sa.Column("resolution_summary", sa.Text(), nullable=True),
        timestamp("resolved_at"),
        json_column("metadata"),
        timestamp_now("created_at"),
        timestamp_now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "subject_id", "id", name="resolutions_pkey"),
        sa.UniqueConstraint(
            "tenant_id", "subject_id", "session_id", name="uq_resolutions_tenant_subject_session"
        ),
    )
    op.create_index(
        "ix_resolutions_tenant_subject_status",
        "resolutions",
        ["tenant_id", "subject_id", "status"],
    )


def downgrade() -> None:
    op.drop_table("resolutions")
