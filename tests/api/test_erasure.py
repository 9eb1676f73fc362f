"""Erasing a subject covers every copy of its data (snapshots, outbox mentions) and nothing
else; ``/admin/cleanup`` stays inside its scope."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.admin_support import seed_subject


async def _scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def _rows_of(engine: AsyncEngine, tenant: str, subject_like: str) -> int:
    sql = (
        "SELECT (SELECT count(*) FROM episodes WHERE tenant_id = :t AND subject_id LIKE :s)"
        " + (SELECT count(*) FROM memories WHERE tenant_id = :t AND subject_id LIKE :s)"
    )
    return int(await _scalar(engine, sql, t=tenant, s=subject_like))


async def _snapshot(client: httpx.AsyncClient, name: str, source: str, tenant: str) -> None:
    body = {"name": name, "source_subject_id": source, "tenant_id": tenant}
    created = await client.post("/admin/snapshots", json=body)
    assert created.json()["status"] == "created", created.text


async def test_deleting_a_subject_erases_its_snapshot_copies_and_nothing_else(
    snap_admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(snap_admin, "erase-me", "t1")
    await seed_subject(snap_admin, "keep-me", "t1")
    await seed_subject(snap_admin, "erase-me", "t2")  # same id, another tenant
    await _snapshot(snap_admin, "golden", "erase-me", "t1")
    await _snapshot(snap_admin, "golden-2", "erase-me", "t1")
    await _snapshot(snap_admin, "other", "keep-me", "t1")
    await _snapshot(snap_admin, "golden", "erase-me", "t2")
    assert await _rows_of(engine, "t1", "_snapshot/golden%") > 0

    gone = await snap_admin.delete("/v1/subjects/erase-me", headers={"X-Tenant-ID": "t1"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["snapshots_deleted"] == 2

    assert await _rows_of(engine, "t1", "erase-me") == 0
    assert await _rows_of(engine, "t1", "_snapshot/golden/%") == 0
    assert await _rows_of(engine, "t1", "_snapshot/golden-2/%") == 0
    names = await snap_admin.get("/admin/snapshots", params={"tenant_id": "t1"})
    assert [s["name"] for s in names.json()["snapshots"]] == ["other"]
    assert await _rows_of(engine, "t1", "_snapshot/other/%") > 0
    assert await _rows_of(engine, "t1", "keep-me") > 0
    assert await _rows_of(engine, "t2", "erase-me") > 0
    assert await _rows_of(engine, "t2", "_snapshot/golden/%") > 0


async def test_admin_delete_erases_snapshots_even_with_the_feature_off(
    snap_admin: httpx.AsyncClient, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(snap_admin, "erase-admin", "t3")
    await _snapshot(snap_admin, "copy", "erase-admin", "t3")
    gone = await admin.delete("/admin/subjects/erase-admin", params={"tenant_id": "t3"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["snapshots_deleted"] == 1
    assert await _rows_of(engine, "t3", "%") == 0


def _episode(subject: str, text_: str) -> dict[str, Any]:
    return {"subject_id": subject, "source": "u", "type": "message", "payload": {"text": text_}}


async def test_outbox_events_shared_with_another_subject_survive_without_its_id(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tenant = {"X-Tenant-ID": "ob"}
    batch = [_episode("ob-gone", "one"), _episode("ob-stays", "two"), _episode("ob-gone", "3")]
    assert (
        await admin.post("/v1/episodes/batch", json={"episodes": batch}, headers=tenant)
    ).status_code == 201
    alone = await admin.post("/v1/episodes/batch", json={"episodes": batch[:1]}, headers=tenant)
    assert alone.status_code == 201
    single = await admin.post("/v1/episodes", json=_episode("ob-gone", "x"), headers=tenant)
    assert single.status_code == 201

    gone = await admin.delete("/v1/subjects/ob-gone", headers=tenant)
    assert gone.status_code == 200

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT event, payload -> 'data' FROM webhook_events "
                    "WHERE tenant_id = 'ob' ORDER BY created_at"
                )
            )
        ).all()
    assert [(event, data.get("subject_ids"), data.get("count")) for event, data in rows[:1]] == [
        ("episodes.batch_created", ["ob-stays"], 3)
    ]
    assert [event for event, _ in rows[1:]] == ["subject.deleted"]
    assert "ob-gone" not in str([data for event, data in rows if event != "subject.deleted"])


async def test_cleanup_needs_snapshots_enabled(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(admin, "live_off", compile_=False)
    refused = await admin.post("/admin/cleanup", params={"prefix": "live_", "max_age_hours": 0})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "snapshots_disabled"
    assert await _rows_of(engine, "", "live_off") > 0


async def test_cleanup_stays_inside_its_prefix_scope_and_keeps_snapshots(
    snap_admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for subject in ("live_visitor", "lively-customer", "l-customer"):
        await seed_subject(snap_admin, subject, "cl", compile_=False)
    await _snapshot(snap_admin, "visit", "live_visitor", "cl")
    for prefix in ("l", "live", "lively"):
        wide = await snap_admin.post(
            "/admin/cleanup", params={"prefix": prefix, "max_age_hours": 0, "tenant_id": "cl"}
        )
        assert wide.status_code == 400, wide.text
        assert wide.json()["error"]["code"] == "prefix_out_of_scope"
    assert await _rows_of(engine, "cl", "l%") == 3 * 4  # nothing deleted

    fresh = await snap_admin.post(
        "/admin/cleanup", params={"prefix": "live_", "max_age_hours": 1, "tenant_id": "cl"}
    )
    assert fresh.json() == {"subjects_cleaned": 0}
    idle = await snap_admin.post(
        "/admin/cleanup", params={"prefix": "live_", "max_age_hours": 0, "tenant_id": "cl"}
    )
    assert idle.json() == {"subjects_cleaned": 1}
    assert await _rows_of(engine, "cl", "live_visitor") == 0
    assert await _rows_of(engine, "cl", "l%") == 2 * 4
    assert await _rows_of(engine, "cl", "_snapshot/visit/%") == 4
