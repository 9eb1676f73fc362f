"""Initial schema: the pgvector extension, ``episodes`` and ``memories``.

Fails with an actionable error when pgvector is not installed on the server. Creates the
extension, ``episodes`` (raw events, indexed by subject and time) and ``memories`` (typed
memories with a ``vector(1536)`` embedding and ``content_tsv``, a stored generated column
``to_tsvector('english', content)`` that full-text queries match and rank on, so no query
re-parses ``content``). There is deliberately no table-wide full-text (GIN) index: every
full-text query is scoped to one subject, and ANDing the subject index with a table-wide
GIN index made the query's cost grow with the whole table (bench/RESULTS.md, F2); the
subject index plus ``@@`` on the stored column is the plan.
Downgrade drops both tables and keeps the extension (other databases may use it).

Revision ID: 0001_initial_schema
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from schema_helpers import (
    json_column,
    require_pgvector,
    string_column,
    timestamp,
    timestamp_now,
    uuid_column,
)
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0001_initial_schema"
down_revision = None
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True


def upgrade() -> None:
    require_pgvector()
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    _create_episodes()
    _create_memories()


def _create_episodes() -> None:
    op.create_table(
        "episodes",
        uuid_column(),
        string_column("subject_id", 256),
        string_column("source", 256),
        string_column("type", 128),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        json_column("metadata"),
        json_column("provenance"),
        timestamp_now("created_at"),
        sa.PrimaryKeyConstraint("id", name="episodes_pkey"),
    )
    op.create_index("ix_episodes_subject_created", "episodes", ["subject_id", "created_at"])


def _create_memories() -> None:
    op.create_table(
        "memories",
        uuid_column(),
        string_column("subject_id", 256),
        string_column("kind", 64),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column(
            "content_tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('english'::regconfig, content)", persisted=True),
            nullable=True,
        ),
        sa.Column("summary", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("confidence", sa.Float(), nullable=False, server_default=sa.text("1")),
        timestamp_now("valid_from"),
        timestamp("valid_to"),
        sa.Column(
            "source_episode_ids",
            postgresql.ARRAY(sa.Uuid()),
            nullable=False,
            server_default=sa.text("'{}'::uuid[]"),
        ),
        json_column("metadata"),
        string_column("status", 32, default="active"),
        timestamp_now("created_at"),
        timestamp_now("updated_at"),
        sa.Column("embedding", Vector(1536), nullable=True),
        sa.PrimaryKeyConstraint("id", name="memories_pkey"),
    )
    op.create_index("ix_memories_subject_kind", "memories", ["subject_id", "kind"])


def downgrade() -> None:
    op.drop_table("memories")
    op.drop_table("episodes")
