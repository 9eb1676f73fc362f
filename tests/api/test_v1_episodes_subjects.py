"""Episodes, timelines, subject listing and deletion through the HTTP API."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

A = {"X-Tenant-ID": "tenant-a"}
B = {"X-Tenant-ID": "tenant-b"}


def _episode(subject: str, text_: str, **extra: object) -> dict[str, object]:
    return {
        "subject_id": subject,
        "source": "user",
        "type": "message",
        "payload": {"text": text_},
        **extra,
    }


async def test_create_episode_returns_201_with_the_stored_row(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = _episode("ep-1", "hello", metadata={"k": 1}, session_id="s1", ignored_field=True)
    response = await api.post("/v1/episodes", json=body, headers=A)
    assert response.status_code == 201
    episode = response.json()
    assert episode["subject_id"] == "ep-1"
    assert episode["metadata"] == {"k": 1}
    assert episode["session_id"] == "s1"
    assert episode["created_at"].endswith("Z")
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT tenant_id, payload FROM episodes WHERE id = :id"),
                {"id": uuid.UUID(episode["id"])},
            )
        ).one()
        events = (
            await conn.execute(
                text(
                    "SELECT event, payload->'data'->>'id' FROM webhook_events "
                    "WHERE tenant_id = 'tenant-a' AND event = 'episode.created'"
                )
            )
        ).all()
    assert row == ("tenant-a", {"text": "hello"})
    assert ("episode.created", episode["id"]) in events


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject_id": "", "source": "u", "type": "t", "payload": {}},
        {"subject_id": "x" * 257, "source": "u", "type": "t", "payload": {}},
        {"subject_id": "s", "source": "u", "type": "t", "payload": "not an object"},
        {"subject_id": "s", "source": "u", "type": "t"},
    ],
)
async def test_malformed_episode_is_a_422_envelope(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await api.post("/v1/episodes", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_batch_is_atomic_and_bounded(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    batch = [_episode("batch-1", f"m{i}") for i in range(100)]
    response = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=A)
    assert response.status_code == 201
    assert response.json()["episodes_created"] == 100
    assert [e["payload"]["text"] for e in response.json()["episodes"]] == [
        f"m{i}" for i in range(100)
    ]
    too_many = await api.post("/v1/episodes/batch", json={"episodes": [*batch, batch[0]]})
    empty = await api.post("/v1/episodes/batch", json={"episodes": []})
    one_bad = await api.post(
        "/v1/episodes/batch", json={"episodes": [_episode("batch-2", "ok"), {"bad": 1}]}
    )
    assert (too_many.status_code, empty.status_code, one_bad.status_code) == (422, 422, 422)
    async with engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM episodes WHERE subject_id LIKE 'batch-%'")
        )
    assert stored == 100


async def test_timeline_is_newest_first_window_in_ascending_order(api: httpx.AsyncClient) -> None:
    for i in range(5):
        await api.post("/v1/episodes", json=_episode("tl", f"t{i}"), headers=A)
    page = (
        await api.get("/v1/timeline", params={"subject_id": "tl", "limit": 2}, headers=A)
    ).json()
    assert [e["payload"]["text"] for e in page["episodes"]] == ["t3", "t4"]
    assert page["episodes_has_more"] is True
    oldest = (
        await api.get(
            "/v1/timeline",
            params={"subject_id": "tl", "limit": 2, "newest_first": "false"},
            headers=A,
        )
    ).json()
    assert [e["payload"]["text"] for e in oldest["episodes"]] == ["t0", "t1"]
    other_tenant = (await api.get("/v1/timeline", params={"subject_id": "tl"}, headers=B)).json()
    assert other_tenant["episodes"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"subject_id": "x", "limit": -1},
        {"subject_id": "x", "limit": 201},
        {"subject_id": "x", "offset": -1},
    ],
)
async def test_timeline_rejects_bad_query_values(
    api: httpx.AsyncClient, params: dict[str, object]
) -> None:
    assert (await api.get("/v1/timeline", params=params)).status_code == 422


async def test_subjects_total_is_global_and_tenant_scoped(api: httpx.AsyncClient) -> None:
    tenant = {"X-Tenant-ID": "lister"}
    for subject in ("s-a", "s-b", "s-c", "_snapshot/hidden/v1"):
        await api.post("/v1/episodes", json=_episode(subject, "x"), headers=tenant)
    page = (await api.get("/v1/subjects", params={"limit": 2}, headers=tenant)).json()
    assert page["total"] == 3
    assert [s["subject_id"] for s in page["subjects"]] == ["s-a", "s-b"]
    assert page["subjects"][0] == {"subject_id": "s-a", "episode_count": 1, "memory_count": 0}
    second = (
        await api.get("/v1/subjects", params={"limit": 2, "offset": 2}, headers=tenant)
    ).json()
    assert [s["subject_id"] for s in second["subjects"]] == ["s-c"]
    assert (await api.get("/v1/subjects", params={"limit": 0})).status_code == 422


async def test_delete_subject_removes_only_that_tenants_data(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for headers in (A, B):
        await api.post("/v1/episodes", json=_episode("gone/with-slash", "bye"), headers=headers)
    response = await api.delete("/v1/subjects/gone/with-slash", headers=A)
    assert response.status_code == 200
    assert response.json() == {
        "subject_id": "gone/with-slash",
        "episodes_deleted": 1,
        "memories_deleted": 0,
        "snapshots_deleted": 0,
    }
    async with engine.connect() as conn:
        left = (
            (
                await conn.execute(
                    text("SELECT tenant_id FROM episodes WHERE subject_id = 'gone/with-slash'")
                )
            )
            .scalars()
            .all()
        )
        mentions = await conn.scalar(
            text(
                "SELECT count(*) FROM webhook_events WHERE tenant_id = 'tenant-a' "
                "AND payload::text LIKE '%gone/with-slash%' AND event <> 'subject.deleted'"
            )
        )
    assert left == ["tenant-b"]
    assert mentions == 0


async def test_idempotency_key_stores_a_retried_episode_once(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = _episode("idem", "only once", idempotency_key="k-1")
    first = await api.post("/v1/episodes", json=body, headers=A)
    retry = await api.post("/v1/episodes", json=body, headers=A)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    batch = [
        _episode("idem", "only once", idempotency_key="k-1"),
        _episode("idem", "new", idempotency_key="k-2"),
        _episode("idem", "new", idempotency_key="k-2"),  # the same episode twice
        _episode("idem", "no key"),
    ]
    response = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=A)
    ids = [e["id"] for e in response.json()["episodes"]]
    assert ids[0] == first.json()["id"]
    assert ids[1] == ids[2]
    assert response.json()["episodes_created"] == 2  # k-2 and the unkeyed one
    replay = await api.post("/v1/episodes/batch", json={"episodes": batch[:3]}, headers=A)
    assert replay.json()["episodes_created"] == 0
    assert [e["id"] for e in replay.json()["episodes"]] == ids[:3]
    other_tenant = await api.post("/v1/episodes", json=body, headers=B)
    assert other_tenant.json()["id"] != first.json()["id"]
    async with engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM episodes WHERE subject_id = 'idem' AND tenant_id = 'tenant-a'"
            )
        )
    assert count == 3


async def _texts(engine: AsyncEngine, subject: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            text(
                "SELECT payload->>'text' FROM episodes WHERE subject_id = :s "
                "ORDER BY payload->>'text'"
            ),
            {"s": subject},
        )
        return list(rows)


async def test_a_reused_key_with_different_content_is_a_409_and_stores_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    original = _episode("reuse", "original", idempotency_key="k1")
    assert (await api.post("/v1/episodes", json=original, headers=A)).status_code == 201
    changed = await api.post(
        "/v1/episodes", json={**original, "payload": {"text": "changed"}}, headers=A
    )
    assert changed.status_code == 409, changed.text
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    later = {**original, "occurred_at": "2024-01-01T00:00:00Z"}  # the first took "now"
    assert (await api.post("/v1/episodes", json=later, headers=A)).status_code == 409

    batch = [_episode("reuse", "fresh"), {**original, "metadata": {"v": 2}}]
    refused = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=A)
    assert refused.status_code == 409
    twice = [
        _episode("reuse", "dup one", idempotency_key="dup"),
        _episode("reuse", "dup two", idempotency_key="dup"),
    ]
    refused = await api.post("/v1/episodes/batch", json={"episodes": twice}, headers=A)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["idempotency_key"] == "dup"
    assert await _texts(engine, "reuse") == ["original"]


async def test_header_keys_never_collide_with_client_keys(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    explicit = _episode("hdr", "EXPLICIT", idempotency_key="order-1:0")
    assert (await api.post("/v1/episodes", json=explicit, headers=A)).status_code == 201
    batch = [_episode("hdr", "BATCH-0"), _episode("hdr", "BATCH-1")]
    headers = {**A, "Idempotency-Key": "order-1"}
    first = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
    assert first.status_code == 201
    assert first.json()["episodes_created"] == 2
    assert [e["payload"]["text"] for e in first.json()["episodes"]] == ["BATCH-0", "BATCH-1"]
    retry = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
    assert retry.json()["episodes_created"] == 0
    assert retry.json()["episodes"] == first.json()["episodes"]
    assert await _texts(engine, "hdr") == ["BATCH-0", "BATCH-1", "EXPLICIT"]
    reserved = _episode("hdr", "x", idempotency_key="$hdr:order-1:0")
    assert (await api.post("/v1/episodes", json=reserved, headers=A)).status_code == 422


async def test_occurred_at_orders_the_timeline(api: httpx.AsyncClient) -> None:
    for day in (3, 1, 2):
        body = _episode("hist", f"day {day}", occurred_at=f"2024-01-0{day}T12:00:00Z")
        stored = await api.post("/v1/episodes", json=body, headers=A)
        assert stored.json()["occurred_at"] == f"2024-01-0{day}T12:00:00Z"
    page = (await api.get("/v1/timeline", params={"subject_id": "hist"}, headers=A)).json()
    assert [e["payload"]["text"] for e in page["episodes"]] == ["day 1", "day 2", "day 3"]
    naive = await api.post(
        "/v1/episodes", json=_episode("hist", "x", occurred_at="2024-01-01T00:00:00"), headers=A
    )
    assert naive.status_code == 422
