"""Deleting subjects from the admin API: single, preview, bulk with ``expected_count``."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.admin_support import seed_subject


async def _episodes(engine: AsyncEngine, prefix: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM episodes WHERE subject_id LIKE :p"), {"p": f"{prefix}%"}
        )
    return int(count or 0)


async def test_bulk_delete_with_a_stale_expected_count_deletes_nothing(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for name in ("bulk-a", "bulk-b"):
        await seed_subject(admin, name, compile_=False)
    await seed_subject(admin, "bulk-c", "other-tenant", compile_=False)
    selector = {"subject_id_prefix": "bulk-", "tenant_id": ""}
    preview = await admin.post("/admin/subjects/preview-delete", json=selector)
    assert preview.status_code == 200
    assert preview.json()["matched"] == 2
    assert {s["subject_id"] for s in preview.json()["sample"]} == {"bulk-a", "bulk-b"}
    assert preview.json()["total_episodes"] == 8

    await seed_subject(admin, "bulk-d", compile_=False)  # the world changed after the preview
    stale = await admin.post(
        "/admin/subjects/bulk-delete", json={**selector, "confirm": True, "expected_count": 2}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "expected_count_mismatch"
    assert stale.json()["error"]["details"] == {"matched": 3, "expected_count": 2}
    assert await _episodes(engine, "bulk-") == 16

    unconfirmed = await admin.post(
        "/admin/subjects/bulk-delete", json={**selector, "expected_count": 3}
    )
    assert unconfirmed.status_code == 400
    done = await admin.post(
        "/admin/subjects/bulk-delete", json={**selector, "confirm": True, "expected_count": 3}
    )
    assert done.status_code == 200, done.text
    assert done.json()["deleted_subjects"] == 3
    assert done.json()["deleted_episodes"] == 12
    assert await _episodes(engine, "bulk-") == 4  # the other tenant's subject survives
    async with engine.connect() as conn:
        events = await conn.scalar(
            text(
                "SELECT count(*) FROM webhook_events WHERE event = 'subject.deleted' "
                "AND payload::text LIKE '%bulk-%'"
            )
        )
    assert events == 3


async def test_an_empty_filter_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/admin/subjects/preview-delete", json={})
    assert response.status_code == 400
    assert "filter" in response.json()["error"]["message"]
    missing = await admin.post("/admin/subjects/bulk-delete", json={"confirm": True})
    assert missing.status_code == 422  # expected_count is required


async def test_single_delete_is_tenant_scoped_and_404s_when_empty(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_subject(admin, "solo", "t1", compile_=False)
    await seed_subject(admin, "solo", "t2", compile_=False)
    gone = await admin.delete("/admin/subjects/solo", params={"tenant_id": "t1"})
    assert gone.status_code == 200
    assert gone.json() == {
        "subject_id": "solo",
        "tenant_id": "t1",
        "episodes_deleted": 4,
        "memories_deleted": 0,
        "snapshots_deleted": 0,
    }
    again = await admin.delete("/admin/subjects/solo", params={"tenant_id": "t1"})
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "subject_not_found"
    assert await _episodes(engine, "solo") == 4
