"""Backup round trip over the admin API: export → delete → import restores everything."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.admin_support import seed_subject

ACME = {"X-Tenant-ID": "acme"}
TABLE_QUERIES = {
    "episodes": "SELECT id, tenant_id, subject_id, source, type, payload, metadata, provenance,"
    " created_at, last_compiled_at, session_id, occurred_at, idempotency_key FROM episodes",
    "memories": "SELECT id, tenant_id, subject_id, kind, content, summary, confidence,"
    " valid_from, valid_to, source_episode_ids, metadata, status, created_at, updated_at,"
    " embedding::text, embedding_model FROM memories",
    "resolutions": "SELECT id, tenant_id, subject_id, session_id, status, resolution_summary,"
    " resolved_at, metadata, created_at, updated_at FROM resolutions",
    "subject_health_cache": "SELECT tenant_id, subject_id, last_state, last_score, factors,"
    " updated_at FROM subject_health_cache",
}


async def _rows(engine: AsyncEngine, subject: str) -> dict[str, list[Any]]:
    async with engine.connect() as conn:
        return {
            table: sorted(
                (
                    tuple(row)
                    for row in await conn.execute(
                        text(f"{query} WHERE subject_id = :s AND tenant_id = 'acme'"),
                        {"s": subject},
                    )
                ),
                key=repr,
            )
            for table, query in TABLE_QUERIES.items()
        }


async def _context(api: httpx.AsyncClient, subject: str) -> dict[str, Any]:
    response = await api.post(
        "/v1/context",
        json={"subject_id": subject, "task": "Help Dana with the CSV export", "session_id": "s-2"},
        headers=ACME,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_round_trip_restores_identical_rows_and_context(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(admin, "rt", "acme")
    health = await admin.get("/v1/subjects/rt/health", headers=ACME)
    assert health.status_code == 200
    before_rows = await _rows(engine, "rt")
    assert all(before_rows.values()), {k: len(v) for k, v in before_rows.items()}
    assert all(row[14] is not None for row in before_rows["memories"])  # embedded
    before_context = await _context(admin, "rt")

    exported = await admin.get("/admin/export/rt", params={"tenant_id": "acme"})
    assert exported.status_code == 200
    document = exported.json()
    assert document["counts"] == {
        "episodes": 4,
        "memories": len(before_rows["memories"]),
        "resolutions": 1,
    }
    assert {e["session_id"] for e in document["episodes"]} == {"s-1", "s-2"}

    deleted = await admin.delete("/admin/subjects/rt", params={"tenant_id": "acme"})
    assert deleted.status_code == 200
    assert deleted.json()["episodes_deleted"] == 4
    assert not any((await _rows(engine, "rt")).values())

    restored = await admin.post("/admin/import", json={"document": document})
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["episodes_imported"], body["resolutions_imported"]) == (4, 1)
    assert body["ids_preserved"] is True and body["memories_embedded"] == 0
    assert await _rows(engine, "rt") == before_rows
    assert await _context(admin, "rt") == before_context

    again = await admin.post("/admin/import", json={"document": document})
    assert again.status_code == 200
    assert again.json()["episodes_imported"] == again.json()["memories_imported"] == 0
    assert again.json()["episodes_skipped"] == 4
    assert await _rows(engine, "rt") == before_rows


async def test_remapped_import_gets_new_ids_and_keeps_provenance(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(admin, "rt-src", "acme")
    document = (await admin.get("/admin/export/rt-src", params={"tenant_id": "acme"})).json()
    clash = await admin.post(
        "/admin/import", json={"document": document, "target_subject_id": "rt-copy"}
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "ids_in_use"

    copied = await admin.post(
        "/admin/import",
        json={"document": document, "target_subject_id": "rt-copy", "preserve_ids": False},
    )
    assert copied.status_code == 200, copied.text
    rows = await _rows(engine, "rt-copy")
    old_ids = {e["id"] for e in document["episodes"]}
    new_ids = {str(row[0]) for row in rows["episodes"]}
    assert len(new_ids) == 4 and not new_ids & old_ids
    cited = {str(s) for row in rows["memories"] for s in row[9]}
    assert cited and cited <= new_ids
    assert {row[10] for row in rows["episodes"]} == {"s-1", "s-2"}
    assert [row[3] for row in rows["resolutions"]] == ["s-1"]


async def test_tampered_or_unknown_documents_are_refused(admin: httpx.AsyncClient) -> None:
    await seed_subject(admin, "rt-tamper", "acme")
    document = (await admin.get("/admin/export/rt-tamper", params={"tenant_id": "acme"})).json()
    tampered = copy.deepcopy(document)
    tampered["episodes"][0]["payload"] = {"messages": []}
    response = await admin.post("/admin/import", json={"document": tampered})
    assert response.status_code == 400
    assert "Checksum mismatch" in response.json()["error"]["message"]
    unknown = await admin.post("/admin/import", json={"document": {"format_version": "9"}})
    assert unknown.status_code == 400
    missing = await admin.get("/admin/export/nobody", params={"tenant_id": "acme"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "subject_not_found"


async def test_import_embeds_memories_that_arrive_without_vectors(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(admin, "rt-novec", "acme")
    exported = await admin.get("/admin/export/rt-novec", params={"tenant_id": "acme"})
    document = exported.json()
    from statewave_server.services.admin.backup_format import checksum

    for memory in document["memories"]:
        memory["embedding"] = memory["embedding_model"] = None
    document["checksum"] = checksum(document)
    response = await admin.post(
        "/admin/import",
        json={"document": document, "target_subject_id": "rt-vec", "preserve_ids": False},
    )
    assert response.status_code == 200, response.text
    assert response.json()["memories_embedded"] == len(document["memories"]) > 0
    async with engine.connect() as conn:
        missing = await conn.scalar(
            text("SELECT count(*) FROM memories WHERE subject_id = 'rt-vec' AND embedding IS NULL")
        )
    assert missing == 0


async def test_hostile_documents_are_client_errors(admin: httpx.AsyncClient) -> None:
    from statewave_server.services.admin.backup_format import checksum

    await seed_subject(admin, "rt-hostile", "acme")
    exported = await admin.get("/admin/export/rt-hostile", params={"tenant_id": "acme"})
    document = exported.json()
    duplicate = copy.deepcopy(document)
    duplicate["memories"].append(duplicate["memories"][0])
    duplicate["checksum"] = checksum(duplicate)
    response = await admin.post(
        "/admin/import", json={"document": duplicate, "target_subject_id": "rt-h2"}
    )
    assert response.status_code == 400
    nul = copy.deepcopy(document)
    nul["episodes"][0]["payload"] = {"text": "a\u0000b"}
    nul["checksum"] = checksum(nul)
    assert (await admin.post("/admin/import", json={"document": nul})).status_code == 422
    bad_path = await admin.get("/admin/export/a%00b")
    assert bad_path.status_code == 422
