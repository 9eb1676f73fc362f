"""Retire or correct one memory through ``/admin/memories/{id}``; lineage is recorded.

Each edit is audited in the memory's metadata, announced as a webhook event (an outbox
row), and takes the memory out of context; compiles record which memory superseded which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client, ingest_and_compile

SUBJECT = "edit-me"
LINES = [
    ("s-1", "user", "My email is dana@northwind.example and I work at Northwind Traders."),
    ("s-2", "user", "We're on the Enterprise plan and our CSV export keeps failing."),
]
LATER = [("s-3", "user", "We're on the Team plan and our CSV export keeps failing.")]
OPERATOR = {"X-Statewave-Operator-Email": "oncall@example.com"}


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(api_settings, local_runtime) as client:
        await ingest_and_compile(client, SUBJECT, LINES)
        await ingest_and_compile(client, SUBJECT, LATER)
        yield client


async def _memories(client: httpx.AsyncClient, status: str = "all") -> list[dict[str, Any]]:
    page = await client.get(
        f"/admin/subjects/{SUBJECT}/memories", params={"status": status, "limit": 200}
    )
    assert page.status_code == 200, page.text
    return list(page.json()["memories"])


async def _announced(client: httpx.AsyncClient, event: str) -> set[str]:
    """The memory ids named by the outbox's ``event`` rows."""
    page = await client.get("/admin/webhooks", params={"event_type": event})
    assert page.status_code == 200, page.text
    ids = set()
    for row in page.json()["events"]:
        detail = (await client.get(f"/admin/webhooks/{row['id']}")).json()
        ids.add(detail["payload"]["data"]["memory_id"])
    return ids


async def test_compile_records_which_memory_superseded_which(admin: httpx.AsyncClient) -> None:
    rows = await _memories(admin)
    by_id = {m["id"]: m for m in rows}
    superseded = [m for m in rows if m["status"] == "superseded"]
    assert superseded
    for old in superseded:
        successor = by_id[old["metadata"]["superseded_by"]]
        assert "Team plan" in successor["content"] and "Enterprise" in old["content"]


async def test_retire_takes_one_memory_out_of_use(admin: httpx.AsyncClient) -> None:
    target = next(m for m in await _memories(admin, "active") if "Northwind" in m["content"])
    done = await admin.post(
        f"/admin/memories/{target['id']}/retire",
        json={"reason": "wrong employer"},
        headers=OPERATOR,
    )
    assert done.status_code == 200, done.text
    memory = done.json()["memory"]
    assert memory["status"] == "deleted" and memory["valid_to"] is not None
    assert memory["metadata"]["retired_by"] == "oncall@example.com"
    assert memory["metadata"]["retired_reason"] == "wrong employer"
    assert target["id"] not in {m["id"] for m in await _memories(admin, "active")}
    found = await admin.get("/v1/memories/search", params={"subject_id": SUBJECT, "q": "Northwind"})
    assert target["id"] not in {m["id"] for m in found.json()["memories"]}
    assert target["id"] in await _announced(admin, "memory.retired")
    again = await admin.post(f"/admin/memories/{target['id']}/retire", json={"reason": "x"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "memory_not_active"


async def test_correct_supersedes_with_the_operator_content(admin: httpx.AsyncClient) -> None:
    target = next(m for m in await _memories(admin, "active") if "Team plan" in m["content"])
    done = await admin.post(
        f"/admin/memories/{target['id']}/correct",
        json={"content": "We're on the Business plan.", "reason": "customer upgraded"},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    old, new = body["memory"], body["replacement"]
    assert old["status"] == "superseded"
    assert old["metadata"]["superseded_by"] == new["id"]
    assert old["metadata"]["corrected_by"] == "api"
    assert new["status"] == "active" and new["content"] == "We're on the Business plan."
    assert new["kind"] == target["kind"]
    assert new["source_episode_ids"] == target["source_episode_ids"]
    assert new["metadata"]["corrects"] == target["id"]
    assert target["id"] in await _announced(admin, "memory.corrected")


async def test_bad_edits_are_clear_4xx(admin: httpx.AsyncClient) -> None:
    unknown = await admin.post(
        "/admin/memories/00000000-0000-0000-0000-000000000000/retire", json={"reason": "x"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "memory_not_found"
    target = (await _memories(admin, "active"))[0]
    foreign = await admin.post(
        f"/admin/memories/{target['id']}/retire", json={"reason": "x", "tenant_id": "other"}
    )
    assert foreign.status_code == 404
    for body in ({"reason": ""}, {"reason": "x", "content": ""}, {}):
        bad = await admin.post(f"/admin/memories/{target['id']}/correct", json=body)
        assert bad.status_code == 422, body
        assert bad.json()["error"]["code"] == "validation_error"
    blank = await admin.post(
        f"/admin/memories/{target['id']}/correct", json={"reason": "x", "content": "   "}
    )
    assert blank.status_code == 400
    assert (
        await admin.post("/admin/memories/not-a-uuid/retire", json={"reason": "x"})
    ).status_code == 422


async def test_short_memory_ids_resolve_within_the_tenant(admin: httpx.AsyncClient) -> None:
    memory = (await _memories(admin))[0]["id"]

    async def ids(prefix: str, **params: str) -> list[str]:
        found = await admin.get("/admin/memories", params={"id_prefix": prefix, **params})
        assert found.status_code == 200, found.text
        return list(found.json()["ids"])

    assert await ids(memory[:8]) == [memory]
    assert await ids(memory[:13]) == [memory]  # with its first dash
    assert await ids(memory) == [memory]
    assert await ids(memory[:8], tenant_id="another-tenant") == []
    assert await ids("f" * 36) == []  # longer than any id: matches nothing
    for bad in ("", "xyz", "%"):
        refused = await admin.get("/admin/memories", params={"id_prefix": bad})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
