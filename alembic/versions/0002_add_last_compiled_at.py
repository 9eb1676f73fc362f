"""Add ``episodes.last_compiled_at`` (NULL = never compiled) and a partial index on it.

``ix_episodes_uncompiled`` covers only uncompiled episodes, so finding work stays cheap as
the table grows. Downgrade drops both (the compile bookkeeping is lost: episodes would be
considered uncompiled again by a later upgrade).

Revision ID: 0002_add_last_compiled_at
Revises: 0001_initial_schema
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import timestamp

from alembic import op

revision = "0002_add_last_compiled_at"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    op.add_column("episodes", timestamp("last_compiled_at"))
    op.create_index(
        "ix_episodes_uncompiled",
        "episodes",
        ["subject_id"],
        postgresql_where=sa.text("last_compiled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_episodes_uncompiled", table_name="episodes")
    op.drop_column("episodes", "last_compiled_at")
