"""Backups in the original Statewave's format 1.0, both ways (admin API and CLI).

The original's importer (facts of its 0.6.1 release) verifies the SHA-256 of
``json.dumps({"episodes", "memories"}, sort_keys=True)``, reads each record's keys with
``datetime.fromisoformat`` and writes them into its own columns (tenant NULL = default,
embedding TEXT). The checks below mirror that, including loading the rows into a database
of the original's shape.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.postgres import PgServer, alembic, run_cli
from tests.api.admin_support import seed_subject
from tests.fixtures.original_db import FIXTURES, build_original

ORIGINAL_BACKUP = FIXTURES / "backup-1.0.json"
ACME = {"X-Tenant-ID": "acme"}
EPISODE_COLUMNS = (
    "id, tenant_id, subject_id, source, type, payload, metadata, provenance, created_at, "
    "last_compiled_at, session_id, occurred_at"
)
MEMORY_COLUMNS = (
    "id, tenant_id, subject_id, kind, content, summary, confidence, valid_from, valid_to, "
    "source_episode_ids, metadata, status, created_at, updated_at"
)


def _original_checksum(document: dict[str, Any]) -> str:
    subset = {"episodes": document["episodes"], "memories": document["memories"]}
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()


async def _select(engine: AsyncEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return sorted((tuple(r) for r in await conn.execute(text(sql), params)), key=repr)


async def test_original_backup_imports_over_http(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    document = json.loads(ORIGINAL_BACKUP.read_text())
    assert isinstance(document["memories"][0]["embedding"], str)

    response = await api.post("/admin/import", json={"document": document})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["episodes_imported"], body["memories_imported"]) == (2, 2)
    assert body["memories_embedded"] == 2  # the original's vectors are replaced by ours
    episodes = await _select(
        engine,
        "SELECT tenant_id, created_at = occurred_at, metadata FROM episodes "
        "WHERE subject_id = 'customer-ana'",
    )
    assert episodes == [("", True, {"channel": "web"}), ("", True, {})]
    memories = await _select(
        engine,
        "SELECT content, vector_dims(embedding), embedding_model FROM memories "
        "WHERE subject_id = 'customer-ana' AND tenant_id = ''",
    )
    assert [(c, d) for c, d, _ in memories] == [
        ("I work at Initech", 384),
        ("my name is Ana Ruiz", 384),
    ]
    assert {m for *_, m in memories} == {"all-MiniLM-L6-v2"}
    search = await api.get(
        "/v1/memories/search", params={"subject_id": "customer-ana", "q": "Initech"}
    )
    assert [m["content"] for m in search.json()["memories"]] == ["I work at Initech"]


def test_original_backup_imports_with_the_cli(db_url: str, pg: PgServer) -> None:
    done = run_cli(
        [
            "statewave_server",
            "import",
            str(ORIGINAL_BACKUP),
            "--target-subject",
            "ana-cli",
            "--remap-ids",
            "--json",
        ],
        db_url,
        extra_env={"STATEWAVE_EMBEDDING_PROVIDER": "local"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["memories_imported"] == 2
    counts = pg.psql_in(
        pg.database_name(db_url),
        "SELECT count(*) FROM memories WHERE subject_id = 'ana-cli' AND embedding IS NOT NULL",
    )
    assert counts == "2"


def _load_into_original(pg: PgServer, document: dict[str, Any]) -> str:
    """The document's records written into the original's own tables (its column types)."""
    url = pg.create_database("orig")
    build_original(pg, url, "0012_add_health_cache", rows=False)
    tenant = document["tenant_id"]
    for table in ("episodes", "memories"):
        records = [
            {**r, "tenant_id": tenant, "subject_id": document["subject_id"]}
            for r in document[table]
        ]
        literal = json.dumps(records).replace("'", "''")
        pg.psql_in(
            pg.database_name(url),
            f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, "
            f"'{literal}'::jsonb)",
        )
    return url


async def test_export_in_the_original_format_round_trips(
    api: httpx.AsyncClient, engine: AsyncEngine, pg: PgServer
) -> None:
    await seed_subject(api, "back", "acme")
    where = "WHERE subject_id = 'back' AND tenant_id = 'acme'"
    episodes = await _select(engine, f"SELECT {EPISODE_COLUMNS} FROM episodes {where}")
    memories = await _select(engine, f"SELECT {MEMORY_COLUMNS} FROM memories {where}")

    exported = await api.get(
        "/admin/export/back", params={"tenant_id": "acme", "format_version": "1.0"}
    )

    assert exported.status_code == 200
    document = exported.json()
    assert document["format_version"] == "1.0" and document["tenant_id"] == "acme"
    assert document["checksum"] == _original_checksum(document)
    assert document["counts"] == {"episodes": len(episodes), "memories": len(memories)}
    for memory in document["memories"]:
        assert memory["embedding"] is None  # our model's vectors mean nothing to the original
        assert memory["valid_from"].endswith("+00:00")  # what older fromisoformat reads
    original = _load_into_original(pg, document)
    loaded = pg.psql_in(pg.database_name(original), "SELECT count(*) FROM episodes")
    assert int(loaded) == len(episodes)

    deleted = await api.delete("/admin/subjects/back", params={"tenant_id": "acme"})
    assert deleted.status_code == 200
    restored = await api.post("/admin/import", json={"document": document})
    assert restored.status_code == 200, restored.text
    assert await _select(engine, f"SELECT {EPISODE_COLUMNS} FROM episodes {where}") == episodes
    assert await _select(engine, f"SELECT {MEMORY_COLUMNS} FROM memories {where}") == memories
    missing = await _select(engine, f"SELECT id FROM memories {where} AND embedding IS NULL")
    assert missing == []


def test_adopted_vectors_go_back_to_the_original_unchanged(pg: PgServer, tmp_path: Path) -> None:
    url = pg.create_database("adopt")
    build_original(pg, url, "0012_add_health_cache")
    before = pg.psql_in(
        pg.database_name(url),
        "SELECT id || '|' || embedding FROM memories WHERE subject_id = 'frank' "
        "AND tenant_id IS NULL AND embedding IS NOT NULL ORDER BY id",
    ).splitlines()
    alembic("upgrade", "head", database_url=url)
    out = tmp_path / "frank.json"

    done = run_cli(
        ["statewave_server", "export", "frank", "--format-version", "1.0", "-o", str(out)], url
    )

    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["tenant_id"] is None and document["checksum"] == _original_checksum(document)
    vectors = {m["id"]: m["embedding"] for m in document["memories"] if m["embedding"]}
    assert len(vectors) == len(before) == 2
    for line in before:
        memory_id, embedding = line.split("|", 1)
        assert json.loads(vectors[memory_id]) == pytest.approx(json.loads(embedding))
    back = _load_into_original(pg, document)
    assert pg.psql_in(pg.database_name(back), "SELECT count(*) FROM memories") == str(
        len(document["memories"])
    )
