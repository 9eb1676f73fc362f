"""Issue 14.2: never "up to date" on a foreign schema (the revision id alone proves nothing).

Preflight, the startup guard, ``/ops/migrations``, ``/readyz`` and the data routes.
"""

from __future__ import annotations

from devtools.postgres import PgServer
from statewave_server.ops.guard import check_schema
from statewave_server.ops.migrations import UP_TO_DATE, check_migration_status
from tests.fixtures.original_db import build_original
from tests.ops import app_client, database_at, preflight_json, settings_for


def original_database(pg: PgServer) -> str:
    """A fresh database as the original Statewave 0.6.1 leaves it, rows included."""
    url = pg.create_database("orig")
    build_original(pg, url, "0012_add_health_cache")
    return url


async def test_our_older_revisions_are_ours_not_foreign(pg: PgServer) -> None:
    status = await check_migration_status(database_at(pg, "0008_add_tenant_id_columns"))
    assert status.error is None and status.pending_count == 4


async def test_our_head_id_over_a_different_shape_is_unknown(
    pg: PgServer, head_db_url: str
) -> None:
    pg.psql_in(pg.database_name(head_db_url), "ALTER TABLE memories DROP COLUMN content_tsv")
    status = await check_migration_status(head_db_url)
    assert not status.is_compatible and status.summary != UP_TO_DATE
    assert status.error is not None and status.error.startswith("unknown schema")
    assert "missing column memories.content_tsv" in status.error and "refus" in status.error


def test_preflight_on_the_original_0_6_1_schema_is_no_go_with_the_adoption_step(
    pg: PgServer,
) -> None:
    url = original_database(pg)
    code, report = preflight_json(url)
    assert code == 1 and report["go"] is False
    assert report["current_revision"] == "0012_add_health_cache"
    assert report["summary"] != UP_TO_DATE and report["pending_count"] is None
    reason = report["reasons"][0]
    assert reason.startswith("original Statewave 0.6.1 schema")
    assert "compile_jobs" in reason and "run `alembic upgrade head` to adopt it" in reason
    (embeddings,) = [c for c in report["checks"] if c["name"] == "embeddings"]
    assert embeddings["status"] == "warn"
    assert "queued for `statewave embeddings backfill`" in embeddings["detail"]
    assert any("statewave embeddings backfill" in w for w in report["warnings"])


async def test_guard_refuses_the_original_schema_in_strict_mode(pg: PgServer) -> None:
    url = original_database(pg)
    strict = await check_schema(settings_for(url, strict_schema=True), url)
    assert strict.refuse and strict.message is not None
    assert "original Statewave 0.6.1 schema" in strict.message
    lenient = await check_schema(settings_for(url), url)
    assert not lenient.ok and not lenient.refuse


async def test_endpoints_on_the_original_schema_answer_503_not_500(pg: PgServer) -> None:
    async with app_client(original_database(pg)) as client:
        migrations = (await client.get("/ops/migrations")).json()
        ready = await client.get("/readyz")
        subjects = await client.get("/v1/subjects")
        timeline = await client.get("/v1/timeline", params={"subject_id": "ana"})
        console = await client.get("/console")
    assert migrations["is_compatible"] is False and migrations["pending_count"] is None
    assert migrations["summary"].startswith("ERROR: original Statewave 0.6.1 schema")
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    for response in (subjects, timeline):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "schema_incompatible"
        assert "original Statewave 0.6.1 schema" in response.json()["error"]["message"]
    # The console says the same as an HTML page (a browser is reading it).
    assert console.status_code == 503 and console.headers["content-type"].startswith("text/html")
    assert "<h1>Schema incompatible</h1>" in console.text
    assert "original Statewave 0.6.1 schema" in console.text


async def test_our_head_id_with_a_column_of_another_type_is_unknown(
    pg: PgServer, head_db_url: str
) -> None:
    pg.psql_in(
        pg.database_name(head_db_url), "ALTER TABLE episodes ALTER COLUMN session_id TYPE text"
    )
    status = await check_migration_status(head_db_url)
    assert status.error is not None and status.error.startswith("unknown schema")
    assert "episodes.session_id is text, expected varchar" in status.error


def test_preflight_counts_nothing_to_re_embed_on_our_revisions_before_model_names(
    pg: PgServer,
) -> None:
    """Before ``0004`` our vectors had no model column: the count must not break preflight."""
    _code, report = preflight_json(database_at(pg, "0003_add_embedding_index"))
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["database"]["status"] == "ok"
    assert checks["embeddings"]["status"] == "ok"
