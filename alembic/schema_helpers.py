"""Column and check helpers shared by the revision scripts (importable via alembic.ini).

Keep these stable: changing what a helper emits changes what an already-applied revision
would create, which a fresh database would then disagree with.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

from alembic import context, op
from statewave_server.db.extensions import PGVECTOR_SQL, pgvector_state

PGVECTOR_MISSING = (
    "pgvector is not available on this PostgreSQL server: the 'vector' extension is missing "
    "from pg_available_extensions. Install the pgvector extension for this PostgreSQL "
    "(e.g. the Debian/Ubuntu package {package}), then re-run `alembic upgrade head`."
)
GENERIC_PACKAGE = "postgresql-<major>-pgvector, <major> being the server's major version"


def require_pgvector() -> None:
    """Fail with an actionable message unless the ``vector`` extension can be created."""
    if context.is_offline_mode():
        message = PGVECTOR_MISSING.format(package=GENERIC_PACKAGE).replace("'", "''")
        op.execute(
            "DO $$ BEGIN IF NOT EXISTS "
            "(SELECT 1 FROM pg_available_extensions WHERE name = 'vector') "
            f"THEN RAISE EXCEPTION '{message}'; END IF; END $$"
        )
        return
    bind = op.get_bind()
    state = pgvector_state(bind.execute(PGVECTOR_SQL).first())
    if state is None:
        major = bind.execute(
            sa.text("SELECT current_setting('server_version_num')::int / 10000")
        ).scalar()
        raise CommandError(PGVECTOR_MISSING.format(package=f"postgresql-{major}-pgvector"))
    if not state.creatable:
        raise CommandError(state.not_creatable_message())


def tenant_id() -> sa.Column[str]:
    """``tenant_id``: ``''`` is the default tenant, never NULL, so it can lead a key."""
    return sa.Column("tenant_id", sa.String(256), nullable=False, server_default=sa.text("''"))


def timestamp_now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def json_column(name: str, default: str = "'{}'::jsonb") -> sa.Column[object]:
    return sa.Column(name, postgresql.JSONB(), nullable=False, server_default=sa.text(default))


def uuid_column(name: str = "id", *, generated: bool = False) -> sa.Column[object]:
    default = sa.text("gen_random_uuid()") if generated else None
    return sa.Column(name, sa.Uuid(), nullable=False, server_default=default)


def int_column(name: str, default: int) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text(str(default)))


def string_column(name: str, length: int, default: str | None = None) -> sa.Column[str]:
    server_default = sa.text(f"'{default}'") if default is not None else None
    return sa.Column(name, sa.String(length), nullable=False, server_default=server_default)


HNSW_INDEX = "ix_memories_embedding_hnsw"


def create_hnsw_index() -> None:
    """The cosine HNSW index on ``memories.embedding`` (needs a fixed-dimension column)."""
    op.create_index(
        HNSW_INDEX,
        "memories",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
