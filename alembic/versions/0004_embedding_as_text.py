"""Make embedding storage independent of one model's dimension.

``memories.embedding`` becomes ``vector`` without a fixed dimension and the new
``memories.embedding_model`` (``varchar(128)``) records which model produced each vector,
so models of different sizes can coexist. pgvector cannot index a vector column without a
dimension, so 0003's HNSW index is dropped. (The name is historical: upstream stored the
embedding as text at this step; we keep pgvector's type.) Existing vectors are kept.

The embedding's storage becomes ``MAIN`` instead of pgvector's default ``EXTERNAL``
(``pg_type.typstorage = 'e'``): a row whose vector plus content exceeds the ~2 kB TOAST
threshold keeps the vector in the row (compressed only if possible, moved out of line
only as a last resort) instead of in the TOAST table, so nearest-neighbour scans read
the heap page only (bench/RESULTS.md, F3). The table's ``toast_tuple_target`` becomes
4080 (default ~2 kB): rows up to 4 kB (a 384-dimension vector, a memory's text and its
stored ``content_tsv``) stay whole in the heap; otherwise, once the vector is kept in the
row, the text and ``content_tsv`` are the columns pushed to TOAST and full-text queries
pay for it. Both apply to rows written from now on; existing rows keep their current
placement until rewritten (``VACUUM FULL``).

Measured (20,000-row table, the bench subject's 10,000 memories, median EXPLAIN ANALYZE
over 40 queries): ``EXTERNAL`` 26.5 ms nearest-100 / 27.3 ms full-text search, 12 MB of
TOAST; ``MAIN`` 9.8 / 46.2 ms, 3.8 MB; ``MAIN`` + ``toast_tuple_target`` 4080 14.7 /
34.3 ms, no TOAST (8160 measured the same, 13.0 / 35.1 ms: no row there is over 4 kB;
4080 keeps at least two rows per page when rows are larger).

Downgrade loses data: embeddings whose dimension is not 1536 are set to NULL (they cannot
be stored in ``vector(1536)``), ``embedding_model`` is dropped, the storage goes back to
``EXTERNAL``, ``toast_tuple_target`` is reset and the HNSW index rebuilt.

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
TOAST_TUPLE_TARGET = 4080  # bytes; statewave_server/db/models.py mirrors it


def upgrade() -> None:
    op.drop_index(HNSW_INDEX, table_name="memories")
    op.execute("ALTER TABLE memories ALTER COLUMN embedding TYPE vector")
    op.add_column("memories", sa.Column("embedding_model", sa.String(128), nullable=True))
    op.execute("ALTER TABLE memories ALTER COLUMN embedding SET STORAGE MAIN")
    op.execute(f"ALTER TABLE memories SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")


def downgrade() -> None:
    op.execute("ALTER TABLE memories RESET (toast_tuple_target)")
    op.execute("ALTER TABLE memories ALTER COLUMN embedding SET STORAGE EXTERNAL")
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
