"""``alembic upgrade head`` adopts a database of the original Statewave, row by row.

The expected rows are derived here, independently of ``ops/adoption.py``, from the rows
read out of the original database before adoption.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import PgServer, alembic
from statewave_server.db.models import ORIGINAL_EMBEDDING_MODEL
from statewave_server.ops.adoption import SIDE_SCHEMA, count_awaiting_embedding
from tests.db.support import HEAD, schema_snapshot
from tests.fixtures.original_db import build_original

Rows = dict[str, dict[str, Any]]

# Original table → our table.
TABLES = {
    "episodes": "episodes",
    "memories": "memories",
    "webhook_events": "webhook_events",
    "subject_snapshots": "subject_snapshots",
    "compile_jobs": "compilation_jobs",
    "rate_limit_hits": "rate_limit_hits",
    "resolutions": "resolutions",
    "subject_health_cache": "subject_health_cache",
}
KEYS = {"rate_limit_hits": ("key", "window_start"), "subject_health_cache": ("subject_id",)}


def _rows(pg: PgServer, url: str, table: str, key: tuple[str, ...] = ("id",)) -> Rows:
    if pg.psql_in(pg.database_name(url), f"SELECT to_regclass('{table}') IS NOT NULL") != "t":
        return {}
    extra = ", embedding::text AS embedding_text" if table == "memories" else ""
    out = pg.psql_in(
        pg.database_name(url), f"SELECT json_agg(t) FROM (SELECT *{extra} FROM {table}) t"
    )
    rows = json.loads(out) if out else []
    return {"|".join(str(r[k]) for k in key): r for r in rows or []}


def _snapshot(pg: PgServer, url: str) -> dict[str, Rows]:
    """Rows of every table either schema may have (absent tables: no rows)."""
    names = {*TABLES, *TABLES.values()}
    return {t: _rows(pg, url, t, KEYS.get(t, ("id",))) for t in names}


def _tenant(row: dict[str, Any]) -> str:
    return row.get("tenant_id") or ""


def _is_vector(text: str | None) -> bool:
    return text is not None and text.startswith("[") and any(c.isdigit() for c in text)


def _check_episode(before: dict[str, Any], after: dict[str, Any]) -> None:
    for column in ("subject_id", "source", "type", "payload", "metadata", "provenance"):
        assert after[column] == before[column], column
    assert after["tenant_id"] == _tenant(before)
    assert after["created_at"] == before["created_at"]
    assert after["occurred_at"] == before["created_at"]
    assert after["last_compiled_at"] == before.get("last_compiled_at")
    assert after["session_id"] == (before.get("session_id") or None)


def _check_memory(before: dict[str, Any], after: dict[str, Any]) -> None:
    same = "subject_id kind content summary confidence valid_from valid_to metadata status"
    for column in [*same.split(), "source_episode_ids", "created_at", "updated_at"]:
        assert after[column] == before[column], column
    assert after["tenant_id"] == _tenant(before)
    vector = before["embedding_text"]
    if _is_vector(vector):
        assert json.loads(after["embedding_text"]) == pytest.approx(json.loads(vector))
        assert after["embedding_model"] == ORIGINAL_EMBEDDING_MODEL
    else:
        assert after["embedding_text"] is None and after["embedding_model"] is None


JOB_STATUS = {"pending": "pending", "running": "pending", "completed": "completed"}


def _check_job(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["tenant_id"] == _tenant(before)
    assert after["subject_id"] == before["subject_id"]
    assert after["status"] == JOB_STATUS.get(before["status"], "dead")
    assert after["kind"] == "compile"
    for column in ("memories_created", "error", "created_at", "completed_at"):
        assert after[column] == before[column], column


def _check_generic(before: dict[str, Any], after: dict[str, Any]) -> None:
    for column, value in before.items():
        if column == "tenant_id":
            assert after["tenant_id"] == _tenant(before)
        elif column == "metadata_":
            assert after["metadata"] == value
        elif column not in ("status", "next_attempt_at", "updated_at") or value is not None:
            assert after[column] == value, column


def _latest_resolutions(rows: Rows) -> Rows:
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows.values():
        key = (_tenant(row), row["subject_id"], row["session_id"])
        if key not in latest or row["updated_at"] > latest[key]["updated_at"]:
            latest[key] = row
    return {row["id"]: row for row in latest.values()}


CHECKS = {"episodes": _check_episode, "memories": _check_memory, "compile_jobs": _check_job}


def assert_adopted(original: dict[str, Rows], adopted: dict[str, Rows]) -> None:
    """Every original row is in our table, with each value carried over as documented."""
    for source, target in TABLES.items():
        before = original[source]
        if source == "resolutions":
            before = _latest_resolutions(before)
        after = adopted[target]
        assert set(after) == set(before), source
        for key, row in before.items():
            CHECKS.get(source, _check_generic)(row, after[key])


@pytest.mark.parametrize("revision", ["0001", "0003", "0004", "0007", "0010", HEAD])
def test_upgrade_head_adopts_every_row(pg: PgServer, revision: str) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, revision)
    original = _snapshot(pg, url)
    assert original["episodes"] and original["memories"]

    done = alembic("upgrade", "head", database_url=url)

    assert "Adopted the original Statewave database" in done.stderr
    assert "statewave embeddings backfill" in done.stderr
    assert_adopted(original, _snapshot(pg, url))
    fresh = pg.create_database("fresh")
    alembic("upgrade", "head", database_url=fresh)
    assert schema_snapshot(pg, url) == schema_snapshot(pg, fresh)
    db = pg.database_name(url)
    assert pg.psql_in(db, "SELECT version_num FROM alembic_version") == HEAD
    assert pg.psql_in(db, f"SELECT to_regnamespace('{SIDE_SCHEMA}')") == ""
    # Adopted is ours: a second run changes nothing.
    alembic("upgrade", "head", database_url=url)
    assert_adopted(original, _snapshot(pg, url))


def test_adoption_maps_the_documented_values(pg: PgServer) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, HEAD)
    alembic("upgrade", "head", database_url=url)
    db = pg.database_name(url)

    def sql(query: str) -> str:
        return pg.psql_in(db, query)

    assert sql("SELECT count(*) FROM episodes WHERE tenant_id = ''") == "6"
    assert sql("SELECT count(*) FROM episodes WHERE tenant_id = 'acme'") == "1"
    assert (
        sql("SELECT status FROM compilation_jobs ORDER BY id")
        == "completed\npending\ndead\npending"
    )
    assert sql("SELECT id FROM resolutions WHERE session_id = 'sess-1'").endswith("0001")
    assert sql("SELECT metadata->>'agent' FROM resolutions WHERE session_id = 'sess-1'") == "kim"
    memory_4 = "'20000000-0000-0000-0000-000000000004'"
    assert sql(f"SELECT embedding IS NULL FROM memories WHERE id = {memory_4}") == "t"
    assert sql(
        "SELECT vector_dims(embedding) FROM memories WHERE embedding IS NOT NULL ORDER BY 1"
    ) == ("3\n1536")


def _interrupt_before_drop(pg: PgServer, db: str, action: str) -> None:
    """An event trigger that kills or fails the adoption at its very last statement."""
    pg.psql_in(
        db,
        "CREATE FUNCTION interrupt_adoption() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {action}; END $$; "
        "CREATE EVENT TRIGGER interrupt_adoption ON ddl_command_start "
        "WHEN TAG IN ('DROP SCHEMA') EXECUTE FUNCTION interrupt_adoption()",
    )


@pytest.mark.parametrize(
    "action",
    [
        "PERFORM pg_terminate_backend(pg_backend_pid())",  # the session dies mid-way
        "RAISE EXCEPTION 'statement failed'",  # a statement fails
    ],
)
def test_interrupted_adoption_leaves_the_original_and_reruns(pg: PgServer, action: str) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, "0011")
    db = pg.database_name(url)
    original = _snapshot(pg, url)
    _interrupt_before_drop(pg, db, action)

    failed = alembic("upgrade", "head", database_url=url, check=False)

    assert failed.returncode != 0
    assert _snapshot(pg, url) == original
    assert pg.psql_in(db, "SELECT version_num FROM alembic_version") == "0011"
    assert pg.psql_in(db, f"SELECT to_regnamespace('{SIDE_SCHEMA}')") == ""
    assert pg.psql_in(db, "SELECT to_regclass('compilation_jobs')") == ""

    pg.psql_in(db, "DROP EVENT TRIGGER interrupt_adoption")
    alembic("upgrade", "head", database_url=url)
    assert_adopted(original, _snapshot(pg, url))


def test_other_targets_refuse_an_original_database(pg: PgServer) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, "0005")
    refused = alembic("upgrade", "+1", database_url=url, check=False)
    assert refused.returncode != 0
    assert "only `alembic upgrade head` adopts it" in refused.stderr
    assert pg.psql_in(pg.database_name(url), "SELECT version_num FROM alembic_version") == "0005"


async def _awaiting(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await count_awaiting_embedding(conn)
    finally:
        await engine.dispose()


async def test_count_of_memories_awaiting_embedding(pg: PgServer, head_db_url: str) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, HEAD)
    assert await _awaiting(url) == 4  # before adoption: every memory of the original
    alembic("upgrade", "head", database_url=url)
    assert await _awaiting(url) == 4  # two keep the original's vectors, two have none
    pg.psql_in(
        pg.database_name(url),
        "UPDATE memories SET embedding_model = 'm' WHERE embedding IS NOT NULL",
    )
    assert await _awaiting(url) == 2
    assert await _awaiting(head_db_url) == 0
