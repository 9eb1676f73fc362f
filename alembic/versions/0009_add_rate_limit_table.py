"""Add ``rate_limit_hits``: fixed-window rate-limit counters shared by all API processes.

Primary key ``(key, window_start)``; ``ix_rate_limit_hits_window`` lets old windows be
purged. Downgrade drops the table (only short-lived counters are lost).

Revision ID: 0009_add_rate_limit_table
Revises: 0008_add_tenant_id_columns
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import int_column, string_column, timestamp_now

from alembic import op

revision = "0009_add_rate_limit_table"
down_revision = "0008_add_tenant_id_columns"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        string_column("key", 256),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        int_column("hit_count", 1),
        timestamp_now("updated_at"),
        sa.PrimaryKeyConstraint("key", "window_start", name="rate_limit_hits_pkey"),
    )
    op.create_index("ix_rate_limit_hits_window", "rate_limit_hits", ["window_start"])


def downgrade() -> None:
    op.drop_table("rate_limit_hits")
