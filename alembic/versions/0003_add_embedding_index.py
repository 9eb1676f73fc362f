"""Add an HNSW index (cosine distance, m=16, ef_construction=64) on ``memories.embedding``.

Index only: no data changes. Downgrade drops the index.

Revision ID: 0003_add_embedding_index
Revises: 0002_add_last_compiled_at
"""

from __future__ import annotations

from schema_helpers import HNSW_INDEX, create_hnsw_index

from alembic import op

revision = "0003_add_embedding_index"
down_revision = "0002_add_last_compiled_at"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = False


def upgrade() -> None:
    create_hnsw_index()


def downgrade() -> None:
    op.drop_index(HNSW_INDEX, table_name="memories")
