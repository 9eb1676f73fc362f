"""Add ``episodes.session_id`` (nullable) for session-aware context assembly.

Indexed as ``ix_episodes_tenant_subject_session (tenant_id, subject_id, session_id)``.
Downgrade drops the index and the column (episodes lose their session).

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


def downgrade() -> None:
    op.drop_index("ix_episodes_tenant_subject_session", table_name="episodes")
    op.drop_column("episodes", "session_id")
