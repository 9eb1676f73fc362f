"""Starter packs, clone, portable payloads and snapshots over the admin API."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.admin_support import seed_subject


async def _count(engine: AsyncEngine, sql: str, **params: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_bundled_packs_import_with_sessions_resolutions_and_vectors(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    packs = {
        p["pack_id"]: p for p in (await admin.get("/admin/memory/starter-packs")).json()["packs"]
    }
    assert set(packs) >= {"demo-support-agent", "demo-coding-assistant"}
    assert all(p["episode_count"] >= 20 and p["memory_count"] >= 12 for p in packs.values())

    first = await admin.post(
        "/admin/memory/starter-packs/import",
        json={"pack_id": "demo-support-agent", "target_tenant_id": "demo"},
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["target_subject_id"] == "demo-support-agent"
    assert body["imported_episodes"] == packs["demo-support-agent"]["episode_count"]
    subject = {"s": "demo-support-agent"}
    missing_vectors = await _count(
        engine,
        "SELECT count(*) FROM memories WHERE tenant_id = 'demo' AND subject_id = :s "
        "AND embedding IS NULL",
        **subject,
    )
    assert missing_vectors == 0
    sessions = await _count(
        engine,
        "SELECT count(DISTINCT session_id) FROM episodes WHERE tenant_id = 'demo' "
        "AND subject_id = :s",
        **subject,
    )
    assert sessions == 4
    cited = await _count(
        engine,
        "SELECT count(*) FROM memories m WHERE tenant_id = 'demo' AND subject_id = :s AND "
        "NOT EXISTS (SELECT 1 FROM episodes e WHERE e.id = ANY(m.source_episode_ids))",
        **subject,
    )
    assert cited == 0  # every source id points at an imported episode

    copy = await admin.post(
        "/admin/memory/starter-packs/import",
        json={"pack_id": "demo-support-agent", "target_tenant_id": "demo"},
    )
    assert copy.json()["target_subject_id"].startswith("demo-support-agent-")
    cancel = await admin.post(
        "/admin/memory/starter-packs/import",
        json={
            "pack_id": "demo-support-agent",
            "target_tenant_id": "demo",
            "target_subject_id": "demo-support-agent",
            "conflict_strategy": "cancel",
        },
    )
    assert cancel.status_code == 409
    unknown = await admin.post("/admin/memory/starter-packs/import", json={"pack_id": "nope"})
    assert unknown.status_code == 404
    reserved = await admin.post(
        "/admin/memory/starter-packs/import",
        json={"pack_id": "demo-coding-assistant", "target_subject_id": "demo_web_x"},
    )
    assert reserved.status_code == 400


async def test_clone_copies_into_an_empty_target(admin: httpx.AsyncClient) -> None:
    await seed_subject(admin, "clone-src", "acme")
    cloned = await admin.post(
        "/admin/memory/clone",
        json={"source_subject_id": "clone-src", "source_tenant_id": "acme"},
        headers={"X-Statewave-Operator-Email": "ops@example.com"},
    )
    assert cloned.status_code == 200, cloned.text
    body = cloned.json()
    assert body["target_subject_id"] == "clone-src-clone"
    assert body["episode_count"] == 4 and body["resolution_count"] == 1
    episodes = (
        await admin.get("/admin/subjects/clone-src-clone/episodes", params={"tenant_id": "acme"})
    ).json()["episodes"]
    assert {e["session_id"] for e in episodes} == {"s-1", "s-2"}
    assert all(e["metadata"]["cloned_by"] == "ops@example.com" for e in episodes)
    taken = await admin.post(
        "/admin/memory/clone",
        json={
            "source_subject_id": "clone-src",
            "source_tenant_id": "acme",
            "target_subject_id": "clone-src-clone",
        },
    )
    assert taken.status_code == 409
    empty = await admin.post("/admin/memory/clone", json={"source_subject_id": "nobody"})
    assert empty.status_code == 404


async def test_payload_export_import_keeps_sessions_and_resolutions(
    admin: httpx.AsyncClient,
) -> None:
    await seed_subject(admin, "pay-1", "acme")
    exported = await admin.post(
        "/admin/memory/export", json={"subject_ids": ["pay-1"], "tenant_id": "acme"}
    )
    assert exported.status_code == 200
    payload = exported.json()
    assert all(m["embedding"] is None for m in payload["subjects"][0]["memories"])
    imported = await admin.post(
        "/admin/memory/import", json={"payload": payload, "target_tenant_id": "beta"}
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["subject_id_map"] == {"pay-1": "pay-1"}
    assert body["imported_episodes"] == 4 and body["imported_resolutions"] == 1
    again = await admin.post(
        "/admin/memory/import", json={"payload": payload, "target_tenant_id": "beta"}
    )
    assert again.json()["subject_id_map"]["pay-1"].startswith("pay-1-")
    bad = await admin.post("/admin/memory/import", json={"payload": {**payload, "extra": 1}})
    assert bad.status_code == 400
    assert (await admin.post("/admin/memory/export", json={"subject_ids": []})).status_code == 400


async def test_snapshots_are_off_by_default(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/snapshots")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Not found"


async def test_snapshot_create_list_restore(
    snap_admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(snap_admin, "snap-src", "acme")
    created = await snap_admin.post(
        "/admin/snapshots",
        json={"name": "golden", "source_subject_id": "snap-src", "tenant_id": "acme"},
    )
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "created" and created.json()["episode_count"] == 4
    again = await snap_admin.post(
        "/admin/snapshots",
        json={"name": "golden", "source_subject_id": "snap-src", "tenant_id": "acme"},
    )
    assert again.json()["status"] == "exists"
    listed = (await snap_admin.get("/admin/snapshots", params={"tenant_id": "acme"})).json()
    assert [s["name"] for s in listed["snapshots"]] == ["golden"]
    assert (await snap_admin.get("/admin/snapshots")).json() == {"snapshots": []}

    restored = await snap_admin.post(
        "/admin/snapshots/restore-by-name",
        json={"name": "golden", "target_subject_id": "snap-live", "tenant_id": "acme"},
    )
    assert restored.status_code == 200, restored.text
    assert restored.json()["episodes_restored"] == 4
    assert restored.json()["resolutions_restored"] == 1
    hidden = await snap_admin.get("/admin/subjects", params={"search": "_snapshot"})
    assert hidden.json()["total"] == 0
    other_tenant = await snap_admin.post(
        "/admin/snapshots/restore-by-name",
        json={"name": "golden", "target_subject_id": "x", "tenant_id": "globex"},
    )
    assert other_tenant.status_code == 404
    newest = await _count(
        engine,
        "SELECT extract(epoch FROM now() - max(created_at)) FROM episodes "
        "WHERE tenant_id = 'acme' AND subject_id = 'snap-live'",
    )
    assert newest < 60
