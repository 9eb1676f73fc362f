"""The subject explorer: listing, detail, rows, citations, related memories, timelines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client, seed_subject


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(api_settings, local_runtime) as client:
        await seed_subject(client, "explore-1", "acme")
        await seed_subject(client, "explore-2", "acme", compile_=False)
        await seed_subject(client, "explore-1", "globex", compile_=False)
        yield client


async def test_explorer_lists_tenant_pairs_with_counts_and_paging(
    admin: httpx.AsyncClient,
) -> None:
    everyone = (await admin.get("/admin/subjects", params={"search": "EXPLORE"})).json()
    pairs = {(s["subject_id"], s["tenant_id"]) for s in everyone["subjects"]}
    assert pairs == {("explore-1", "acme"), ("explore-2", "acme"), ("explore-1", "globex")}
    assert everyone["total"] == 3
    acme = (
        await admin.get(
            "/admin/subjects",
            params={"tenant_id": "acme", "sort_by": "memory_count", "limit": 1},
        )
    ).json()
    assert acme["total"] == 2 and len(acme["subjects"]) == 1
    top = acme["subjects"][0]
    assert top["subject_id"] == "explore-1" and top["memory_count"] > 0
    assert top["session_count"] == 2 and top["open_sessions"] == 0
    bad = await admin.get("/admin/subjects", params={"sort_by": "nope"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


async def test_detail_has_summary_health_and_sla(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/subjects/explore-1", params={"tenant_id": "acme"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"]["episode_count"] == 4
    assert body["summary"]["session_count"] == 2
    assert body["health"]["state"] in {"healthy", "watch", "at_risk"}
    assert body["sla"]["total_sessions"] == 2 and body["sla"]["resolved_sessions"] == 1
    listed = await admin.get("/admin/subjects", params={"health_state": body["health"]["state"]})
    assert ("explore-1", "acme") in {
        (s["subject_id"], s["tenant_id"]) for s in listed.json()["subjects"]
    }
    missing = await admin.get("/admin/subjects/explore-1", params={"tenant_id": "nobody"})
    assert missing.status_code == 404


async def test_rows_citations_and_related(admin: httpx.AsyncClient) -> None:
    params = {"tenant_id": "acme"}
    memories = (await admin.get("/admin/subjects/explore-1/memories", params=params)).json()
    assert memories["total"] == len(memories["memories"]) > 0
    episodes = (
        await admin.get("/admin/subjects/explore-1/episodes", params={**params, "search": "CSV"})
    ).json()
    assert episodes["total"] == 1
    assert episodes["episodes"][0]["session_id"] == "s-2"
    memory = memories["memories"][0]
    episode_id = memory["source_episode_ids"][0]
    citing = (
        await admin.get(
            f"/admin/subjects/explore-1/episodes/{episode_id}/citing-memories", params=params
        )
    ).json()
    assert memory["id"] in {m["id"] for m in citing["memories"]}
    related = await admin.get(
        f"/admin/subjects/explore-1/memories/{memory['id']}/related", params=params
    )
    assert related.status_code == 200
    assert related.json()["source_episode_count"] == len(memory["source_episode_ids"])
    bad = await admin.get("/admin/subjects/explore-1/memories/not-a-uuid/related", params=params)
    assert bad.status_code == 400
    unknown = await admin.get(
        f"/admin/subjects/explore-1/memories/{uuid.uuid4()}/related", params=params
    )
    assert unknown.status_code == 404
    other_tenant = await admin.get(
        f"/admin/subjects/explore-1/memories/{memory['id']}/related", params={"tenant_id": "globex"}
    )
    assert other_tenant.status_code == 404


async def test_session_timeline_places_the_resolution(admin: httpx.AsyncClient) -> None:
    response = await admin.get(
        "/admin/subjects/explore-1/sessions/s-1/timeline", params={"tenant_id": "acme"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "resolved" and body["episode_count"] == 2
    kinds = [e["event_type"] for e in body["events"]]
    assert kinds == ["episode", "episode", "resolution"]
    assert body["first_response_seconds"] is not None
    missing = await admin.get(
        "/admin/subjects/explore-1/sessions/nope/timeline", params={"tenant_id": "acme"}
    )
    assert missing.status_code == 404


async def test_subject_sla_with_thresholds_and_404(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/subjects/explore-1/sla", params={"tenant_id": "acme"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject_id"] == "explore-1"
    assert body["total_sessions"] == 2 and body["resolved_sessions"] == 1
    assert [s["session_id"] for s in body["sessions"]] == ["s-1", "s-2"]
    assert body["sessions"][0]["status"] == "resolved"
    assert body["avg_first_response_seconds"] is not None
    strict = (
        await admin.get(
            "/admin/subjects/explore-1/sla",
            params={
                "tenant_id": "acme",
                "first_response_threshold_minutes": 0,
                "resolution_threshold_hours": 0,
            },
        )
    ).json()
    lenient_breaches = body["first_response_breach_count"] + body["resolution_breach_count"]
    strict_breaches = strict["first_response_breach_count"] + strict["resolution_breach_count"]
    assert strict_breaches >= lenient_breaches
    bad = await admin.get(
        "/admin/subjects/explore-1/sla",
        params={"tenant_id": "acme", "resolution_threshold_hours": -1},
    )
    assert bad.status_code == 422
    missing = await admin.get("/admin/subjects/explore-1/sla", params={"tenant_id": "nobody"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "subject_not_found"
