"""Make embedding storage independent of one model's dimension.

``memories.embedding`` becomes ``vector`` without a fixed dimension and the new
``memories.embedding_model`` (``varchar(128)``) records which model produced each vector,
so models of different sizes can coexist. pgvector cannot index a vector column without a
dimension, so 0003's HNSW index is dropped. (The name is historical: upstream stored the
embedding as text at this step; we keep pgvector's type.) Existing vectors are kept.

Downgrade loses data: embeddings whose dimension is not 1536 are set to NULL (they cannot
be stored in ``vector(1536)``), ``embedding_model`` is dropped and the HNSW index rebuilt.

Revision ID: 0004_embedding_as_text
Revises: 0003_add_embedding_index
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import HNSW_INDEX, create_hnsw_index

from alembic import op

revision = "0004_embedding_as_text"
down_revision = "0003_add_embedding_index"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True

LEGACY_DIMENSION = 1536


def upgrade() -> None:
    op.drop_index(HNSW_INDEX, table_name="memories")
    op.execute("ALTER TABLE memories ALTER COLUMN embedding TYPE vector")
    op.add_column("memories", sa.Column("embedding_model", sa.String(128), nullable=True))


def downgrade() -> None:
    op.execute(
        "UPDATE memories SET embedding = NULL "
        f"WHERE embedding IS NOT NULL AND vector_dims(embedding) <> {LEGACY_DIMENSION}"
    )
    op.execute(
        f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({LEGACY_DIMENSION}) "
        f"USING embedding::vector({LEGACY_DIMENSION})"
    )
    op.drop_column("memories", "embedding_model")
    create_hnsw_index()
