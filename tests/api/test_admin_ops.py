"""Admin introspection: dashboard, tenants, usage, compile jobs (list, retry, rescue,
purge) and outbox purge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from statewave_server.db.engine import Database
from statewave_server.db.models import Job, WebhookEvent
from statewave_server.db.outbox import record_event
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client, seed_subject
from tests.fixtures.factories import load_job, make_job, make_orphan


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(api_settings, local_runtime) as client:
        await seed_subject(client, "ops-1", "acme", compile_=False)
        yield client


async def test_dashboard_gathers_every_section(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/dashboard")
    assert response.status_code == 200
    body = response.json()
    assert body["readiness"]["status"] in {"ready", "degraded"}
    assert all("latency_ms" in c and "detail" in c for c in body["readiness"]["checks"])
    assert body["migration"]["is_compatible"] is True
    assert body["counts"]["episodes"] >= 4 and body["counts"]["subjects"] >= 1
    assert set(body["webhooks"]) >= {"pending", "delivered", "dead_letter", "total"}
    assert sum(body["health_distribution"].values()) == body["counts"]["subjects"]


async def test_tenants_audit_and_usage(admin: httpx.AsyncClient) -> None:
    assert "acme" in (await admin.get("/admin/tenants")).json()["tenants"]
    audit = (await admin.get("/admin/tenant-audit")).json()
    assert audit["null_tenant_rows"] == {
        "episodes": 0,
        "memories": 0,
        "compile_jobs": 0,
        "webhook_events": 0,
    }
    usage = (await admin.get("/admin/usage", params={"tenant_id": "acme"})).json()
    assert usage["episodes"]["today"] == usage["episodes"]["total"] == 4
    assert usage["active_subjects"] == {"7d": 1, "30d": 1, "total": 1}
    nobody = (await admin.get("/admin/usage", params={"tenant_id": "nobody"})).json()
    assert nobody["episodes"]["total"] == 0


async def test_jobs_list_detail_stats_and_purge(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        done = await make_job(session, status="completed", subject_id="job-s", tenant_id="acme")
        await make_job(session, status="dead", subject_id="job-s", tenant_id="acme")
        await make_job(session, status="pending", subject_id="job-s", tenant_id="acme")
        await make_job(session, status="completed", subject_id="job-s", tenant_id="globex")
    page = (await admin.get("/admin/jobs", params={"subject_id": "job-s", "limit": 2})).json()
    assert page["total"] == 4 and len(page["jobs"]) == 2
    acme = (await admin.get("/admin/jobs", params={"tenant_id": "acme"})).json()
    assert acme["total"] == 3
    detail = await admin.get(f"/admin/jobs/{done.id}")
    assert detail.status_code == 200 and detail.json()["job_id"] == done.id
    assert (await admin.get("/admin/jobs/nope")).status_code == 404
    stats = (await admin.get("/admin/jobs/stats")).json()
    assert stats["completed"] >= 2 and stats["total"] >= 4

    unfiltered = await admin.delete("/admin/jobs")
    assert unfiltered.status_code == 400
    assert unfiltered.json()["error"]["message"] == "at least one filter is required"
    running = await admin.delete("/admin/jobs", params={"status": "running"})
    assert running.status_code == 400
    preview = await admin.delete("/admin/jobs", params={"tenant_id": "acme", "dry_run": True})
    assert preview.json() == {"deleted": 0, "matched": 2, "dry_run": True}
    assert (await admin.get("/admin/jobs", params={"tenant_id": "acme"})).json()["total"] == 3
    purged = await admin.delete("/admin/jobs", params={"tenant_id": "acme"})
    assert purged.json() == {"deleted": 2, "matched": 2, "dry_run": False}  # pending stays
    left = (await admin.get("/admin/jobs", params={"subject_id": "job-s"})).json()
    assert {(j["tenant_id"], j["status"]) for j in left["jobs"]} == {
        ("acme", "pending"),
        ("globex", "completed"),
    }


async def test_jobs_by_id_prefix_retry_and_rescue(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        dead = await make_job(session, status="dead", error="boom", subject_id="retry-s")
        alive = await make_job(session, status="pending", subject_id="retry-s")
        orphan = await make_orphan(session, minutes=90, subject_id="retry-s")
    found = (await admin.get("/admin/jobs", params={"id_prefix": dead.id[:8]})).json()
    assert [j["job_id"] for j in found["jobs"]] == [dead.id]
    assert (await admin.get("/admin/jobs", params={"id_prefix": "_%"})).status_code == 422

    retried = await admin.post("/admin/jobs/retry", json={"job_ids": [dead.id, alive.id]})
    assert retried.json() == {"retried": [dead.id], "not_retried": [alive.id]}
    both = await admin.post("/admin/jobs/retry", json={"job_ids": [dead.id], "all_dead": True})
    assert both.status_code == 422 and both.json()["error"]["code"] == "validation_error"

    too_soon = await admin.post("/admin/jobs/rescue", json={"older_than_seconds": 7200})
    assert too_soon.json() == {"older_than_seconds": 7200, "requeued": [], "dead": []}
    rescued = (await admin.post("/admin/jobs/rescue", json={})).json()
    assert orphan.id in rescued["requeued"] and rescued["older_than_seconds"] > 0
    database = Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    assert (await load_job(database, orphan.id)).status == "pending"
    negative = await admin.post("/admin/jobs/rescue", json={"older_than_seconds": -1})
    assert negative.status_code == 422


async def test_webhook_purge_touches_only_finished_events(admin: httpx.AsyncClient) -> None:
    assert (await admin.delete("/admin/webhooks")).status_code == 400
    pending_before = (await admin.get("/admin/dashboard")).json()["webhooks"]["pending"]
    response = await admin.delete("/admin/webhooks", params={"status": "delivered"})
    assert response.status_code == 200
    assert response.json() == {"deleted": 0, "matched": 0, "dry_run": False}
    assert (await admin.get("/admin/dashboard")).json()["webhooks"]["pending"] == pending_before


async def test_webhook_purge_dry_run_counts_what_the_delete_then_removes(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        for status in ("delivered", "dead_letter", "pending"):
            await record_event(session, "purge-api", "memories.compiled", {})
            await session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.tenant_id == "purge-api", WebhookEvent.status == "pending")
                .values(status=status)
            )
    params = {"tenant_id": "purge-api", "dry_run": "true"}
    preview = (await admin.delete("/admin/webhooks", params=params)).json()
    assert preview == {"deleted": 0, "matched": 2, "dry_run": True}
    done = (await admin.delete("/admin/webhooks", params={"tenant_id": "purge-api"})).json()
    assert done == {"deleted": 2, "matched": 2, "dry_run": False}
    left = (await admin.get("/admin/webhooks", params={"tenant_id": "purge-api"})).json()
    assert [e["status"] for e in left["events"]] == ["pending"]


async def test_rescue_one_job_by_id(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """Only the silent running job named is rescued; a live one is 409, an unknown id 404."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        stuck = await make_orphan(session, minutes=90, subject_id="rescue-one")
        other = await make_orphan(session, minutes=90, subject_id="rescue-one")
        spent = await make_orphan(session, minutes=90, attempts=3, max_attempts=3)
        live = await make_orphan(session, minutes=90, heartbeat_at=func.now())
        idle = await make_job(session, status="pending")
    database = Database(engine, async_sessionmaker(engine, expire_on_commit=False))

    rescued = await admin.post(f"/admin/jobs/{stuck.id}/rescue")
    assert rescued.status_code == 200, rescued.text
    assert rescued.json()["requeued"] == [stuck.id] and rescued.json()["dead"] == []
    assert (await load_job(database, stuck.id)).status == "pending"
    assert (await load_job(database, other.id)).status == "running"
    buried = (await admin.post(f"/admin/jobs/{spent.id}/rescue")).json()
    assert buried["requeued"] == [] and buried["dead"] == [spent.id]

    for job in (live, idle, stuck):  # heartbeating, not running, already rescued
        refused = await admin.post(f"/admin/jobs/{job.id}/rescue")
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "job_not_stuck"
    assert (await load_job(database, live.id)).status == "running"
    unknown = await admin.post("/admin/jobs/no-such-job/rescue")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "job_not_found"
    # Leave no running job behind for other tests.
    await admin.post(f"/admin/jobs/{other.id}/rescue")
    async with async_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(Job).where(Job.id == live.id).values(status="completed"))
