"""Times PostgreSQL cannot round-trip, and text UTF-8 cannot hold: refused with a 422 and
never stored; rows that already hold such times are still readable everywhere."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.times import EARLIEST, LATEST


def _episode(subject: str) -> dict[str, object]:
    return {"subject_id": subject, "source": "user", "type": "message", "payload": {"text": "hi"}}


async def _count(engine: AsyncEngine, subject: str) -> int:
    async with engine.connect() as conn:
        statement = text("SELECT count(*) FROM episodes WHERE subject_id = :s")
        return int((await conn.execute(statement, {"s": subject})).scalar_one())


async def _total(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM episodes"))).scalar_one())


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00Z",  # stored as -infinity by asyncpg before the bound
        "9999-12-31T23:59:59.999999Z",  # stored as infinity
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
    ],
)
async def test_out_of_range_occurred_at_is_a_422_and_stores_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, when: str
) -> None:
    subject = f"when-{uuid.uuid4().hex[:8]}"
    one = await api.post("/v1/episodes", json={**_episode(subject), "occurred_at": when})
    assert one.status_code == 422, one.text
    assert one.json()["error"]["code"] == "validation_error"
    good = {**_episode(subject), "occurred_at": "2024-05-01T10:00:00Z"}
    bad = {**_episode(subject), "occurred_at": when}
    batch = await api.post("/v1/episodes/batch", json={"episodes": [good, bad]})
    assert batch.status_code == 422, batch.text
    assert await _count(engine, subject) == 0


async def test_the_bounds_themselves_are_accepted(api: httpx.AsyncClient) -> None:
    for when in (EARLIEST, LATEST):
        body = {**_episode("bounds"), "occurred_at": when.isoformat()}
        response = await api.post("/v1/episodes", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["occurred_at"] == when.isoformat().replace("+00:00", "Z")


LONE = '"\\ud800"'  # the JSON text of a lone high surrogate
ROUTES = [
    ("/v1/episodes", '{"subject_id": %s, "source": "u", "type": "t", "payload": {}}'),
    ("/v1/episodes", '{"subject_id": "s", "source": "u", "type": "t", "payload": {"x": %s}}'),
    ("/v1/episodes", '{"subject_id": "s", "source": "u", "type": "t", "payload": {%s: 1}}'),
    ("/v1/context", '{"subject_id": %s}'),
    ("/v1/context", '{"subject_id": "s", "task": %s}'),
    ("/v1/memories/compile", '{"subject_id": %s}'),
    ("/admin/subjects/bulk-delete", '{"subject_id_prefix": %s, "expected_count": 0}'),
]


@pytest.mark.parametrize(("path", "template"), ROUTES)
async def test_a_lone_surrogate_anywhere_is_a_422(
    api: httpx.AsyncClient, engine: AsyncEngine, path: str, template: str
) -> None:
    before = await _total(engine)
    body = (template % LONE).encode()
    response = await api.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await _total(engine) == before


async def test_paired_surrogates_and_escaped_backslashes_are_accepted(
    api: httpx.AsyncClient,
) -> None:
    body = json.dumps({**_episode("emoji"), "payload": {"text": "\U0001f600 \\ud800"}})
    assert "\\ud83d\\ude00" in body  # the emoji travels as an escaped surrogate pair
    response = await api.post(
        "/v1/episodes", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["payload"]["text"] == "\U0001f600 \\ud800"


async def test_rows_already_holding_infinite_times_stay_readable(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Defence in depth: such rows (stored by an older version or by hand) are read as
    the nearest bound instead of failing every reader of the subject."""
    subject = "infinite"
    created = await api.post(
        "/v1/episodes", json={**_episode(subject), "payload": {"text": "I live in Oslo"}}
    )
    assert created.status_code == 201
    async with engine.begin() as conn:
        for when in ("-infinity", "infinity"):
            await conn.execute(
                text(
                    "INSERT INTO episodes (id, tenant_id, subject_id, source, type, payload, "
                    "session_id, occurred_at) VALUES (gen_random_uuid(), '', :s, 'user', "
                    "'message', '{\"text\": \"I live in Rome\"}', 's1', "
                    "CAST(CAST(:w AS text) AS timestamptz))"
                ),
                {"s": subject, "w": when},
            )
    compiled = await api.post("/v1/memories/compile", json={"subject_id": subject})
    assert compiled.status_code == 200, compiled.text
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE memories SET valid_from = '-infinity' WHERE subject_id = :s"),
            {"s": subject},
        )
    timeline = await api.get("/v1/timeline", params={"subject_id": subject})
    assert timeline.status_code == 200, timeline.text
    times = sorted(e["occurred_at"] for e in timeline.json()["episodes"])
    assert times[0] == EARLIEST.isoformat().replace("+00:00", "Z")
    assert times[-1] == LATEST.isoformat().replace("+00:00", "Z")
    reads = [
        await api.post("/v1/context", json={"subject_id": subject, "task": "where do I live"}),
        await api.post("/v1/memories/compile", json={"subject_id": subject}),
        await api.get(f"/admin/subjects/{subject}/episodes"),
        await api.get(f"/admin/subjects/{subject}/sessions/s1/timeline"),
        await api.get(f"/admin/export/{subject}"),
        await api.get(f"/console/subjects/{subject}"),
    ]
    assert [r.status_code for r in reads] == [200] * len(reads), [r.text[:200] for r in reads]
    exported = reads[4].json()
    copy = {"document": exported, "target_subject_id": "infinite-copy", "preserve_ids": False}
    restored = await api.post("/admin/import", json=copy)
    assert restored.status_code == 200, restored.text[:300]
    assert restored.json()["episodes_imported"] == 3
