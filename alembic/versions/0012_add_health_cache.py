"""Add ``subject_health_cache``: the last health state per (tenant, subject).

Lets health alerts fire once per state transition. Primary key ``(tenant_id, subject_id)``.
Downgrade drops the table; only cached state is lost (it is recomputed, but the next
evaluation may alert again).

Revision ID: 0012_add_health_cache
Revises: 0011_add_resolutions_table
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import json_column, string_column, tenant_id, timestamp_now

from alembic import op

revision = "0012_add_health_cache"
down_revision = "0011_add_resolutions_table"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "subject_health_cache",
        tenant_id(),
        string_column("subject_id", 256),
        string_column("last_state", 32),
        sa.Column("last_score", sa.Integer(), nullable=False),
        json_column("factors", default="'[]'::jsonb"),
        timestamp_now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "subject_id", name="subject_health_cache_pkey"),
    )


def downgrade() -> None:
    op.drop_table("subject_health_cache")
