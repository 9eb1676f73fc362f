"""What the lossy downgrades keep and drop, with rows a real deployment would have."""

from __future__ import annotations

from devtools.postgres import PgServer, alembic
from tests.db.support import dbname

MEMORY = (
    "INSERT INTO memories (id, subject_id, kind, content, embedding, embedding_model) "
    "VALUES ('{id}', 's1', 'profile_fact', 'c', {vector}, 'm')"
)
FULL = "array_fill(0.5::real, ARRAY[1536])::vector"
SMALL = "'[1,2,3]'::vector"
ID_FULL = "00000000-0000-0000-0000-000000001536"
ID_SMALL = "00000000-0000-0000-0000-000000000003"


def _sql(pg: PgServer, url: str, sql: str) -> str:
    return pg.psql_in(dbname(pg, url), sql)


def test_embedding_downgrade_nulls_only_other_dimensions(pg: PgServer, empty_db_url: str) -> None:
    url = empty_db_url
    alembic("upgrade", "0004_embedding_as_text", database_url=url)
    _sql(pg, url, MEMORY.format(id=ID_FULL, vector=FULL))
    _sql(pg, url, MEMORY.format(id=ID_SMALL, vector=SMALL))

    alembic("downgrade", "-1", database_url=url)

    kept = _sql(pg, url, "SELECT id, vector_dims(embedding) FROM memories ORDER BY id")
    assert kept.splitlines() == [f"{ID_SMALL}|", f"{ID_FULL}|1536"]
    assert "vector(1536)" in _sql(
        pg,
        url,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'memories'::regclass AND attname = 'embedding'",
    )
    assert _sql(pg, url, "SELECT to_regclass('ix_memories_embedding_hnsw')") != ""


def test_tenant_downgrade_keeps_the_default_tenant_on_collisions(
    pg: PgServer, empty_db_url: str
) -> None:
    url = empty_db_url
    alembic("upgrade", "0008_add_tenant_id_columns", database_url=url)
    snapshot = (
        "INSERT INTO subject_snapshots (tenant_id, name, version, source_subject_id) "
        "VALUES ('{}', '{}', 1, 'x')"
    )
    for tenant, name in [("", "shared"), ("acme", "shared"), ("acme", "own")]:
        _sql(pg, url, snapshot.format(tenant, name))
    episode = (
        "INSERT INTO episodes (tenant_id, subject_id, id, source, type, payload) "
        f"VALUES ('{{}}', 's', '{ID_FULL}', 'test', 'message', '{{{{}}}}')"
    )
    for tenant in ("", "acme"):
        _sql(pg, url, episode.format(tenant))

    alembic("downgrade", "-1", database_url=url)

    names = _sql(pg, url, "SELECT name FROM subject_snapshots ORDER BY name")
    assert names.splitlines() == ["own", "shared"]
    assert _sql(pg, url, "SELECT count(*) FROM episodes") == "1"
