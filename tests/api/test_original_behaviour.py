"""Behaviour clients of the original Statewave 0.6.1 rely on (each once observed differing)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from statewave_server.db.ids import time_ordered_uuid

TASK = "Help me"  # shares no word with the episodes: only the signals rank them


def _episode(subject: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "source": fields.pop("source", "user"),
        "type": "message",
        "payload": {"messages": [{"role": "user", "content": text}]},
        **fields,
    }


# (name, text of the episode carrying the signal, its other fields, whether it lifts it)
SIGNALS = [
    ("urgency", "Our nightly report run is urgent now", {}, True),
    ("action-step", "Restarted the report worker process", {"source": "agent"}, True),
    ("small-talk", "ok thanks", {}, False),
    ("open-issue", "The report run keeps on failing", {"session_id": "open"}, True),
]
NEUTRAL = "The report run finished at noon today"


@pytest.mark.parametrize("signal_first", [True, False], ids=["signal-first", "signal-last"])
@pytest.mark.parametrize(("name", "text", "fields", "lifts"), SIGNALS, ids=[s[0] for s in SIGNALS])
async def test_order_inside_a_batch_never_outweighs_the_signals(
    api: httpx.AsyncClient,
    name: str,
    text: str,
    fields: dict[str, Any],
    lifts: bool,
    signal_first: bool,
) -> None:
    subject = f"batch-{name}-{signal_first}"
    marked = _episode(subject, text, **{"session_id": "other", **fields})
    plain = _episode(subject, NEUTRAL, session_id="other")
    batch = [marked, plain] if signal_first else [plain, marked]
    assert (await api.post("/v1/episodes/batch", json={"episodes": batch})).status_code == 201
    await api.post(
        "/v1/resolutions", json={"subject_id": subject, "session_id": "open", "status": "open"}
    )

    context = await api.post("/v1/context", json={"subject_id": subject, "task": TASK})

    ranked = [e["payload"]["messages"][0]["content"] for e in context.json()["episodes"]]
    assert ranked == ([text, NEUTRAL] if lifts else [NEUTRAL, text])


async def test_a_batch_shares_one_recorded_time_and_keeps_its_order(api: httpx.AsyncClient) -> None:
    batch = [_episode("one-time", f"turn number {i} of the talk") for i in range(5)]
    body = (await api.post("/v1/episodes/batch", json={"episodes": batch})).json()
    assert len({e["occurred_at"] for e in body["episodes"]}) == 1
    timeline = (await api.get("/v1/timeline", params={"subject_id": "one-time"})).json()
    assert [e["payload"]["messages"][0]["content"] for e in timeline["episodes"]] == [
        f"turn number {i} of the talk" for i in range(5)
    ]


def test_time_ordered_ids_increase_and_are_version_7() -> None:
    ids = [time_ordered_uuid() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}


async def test_resolved_older_session_does_not_outrank_the_active_one(
    api: httpx.AsyncClient,
) -> None:
    subject = "sessions-compiled"
    older = [
        _episode(subject, "My CSV export fails with a timeout error", session_id="s-old"),
    ]
    active = [
        _episode(subject, "The CSV export now stops at row 5000", session_id="s-new"),
    ]
    for batch in (older, active):
        await api.post("/v1/episodes/batch", json={"episodes": batch})
    await api.post(
        "/v1/resolutions",
        json={"subject_id": subject, "session_id": "s-old", "status": "resolved"},
    )
    compiled = await api.post("/v1/memories/compile", json={"subject_id": subject})
    assert compiled.json()["memories_created"] > 0

    context = await api.post(
        "/v1/context",
        json={"subject_id": subject, "task": "Why does my CSV export fail?", "session_id": "s-new"},
    )

    text = context.json()["assembled_context"]
    assert "row 5000" in text
    if "timeout" in text:
        assert text.index("row 5000") < text.index("timeout"), text


async def test_search_q_means_contains(api: httpx.AsyncClient) -> None:
    subject = "frank-search"
    batch = [
        _episode(subject, "My name is Frank and I live in Oslo."),
        _episode(subject, "Frank xyz is my gamer tag."),
        _episode(subject, "frank XYZ again, lower case."),
    ]
    await api.post("/v1/episodes/batch", json={"episodes": batch})
    await api.post("/v1/memories/compile", json={"subject_id": subject})

    both = await api.get("/v1/memories/search", params={"subject_id": subject, "q": "Frank xyz"})
    contents = [m["content"] for m in both.json()["memories"]]
    assert contents and all("frank xyz" in c.lower() for c in contents)
    assert not any("Oslo" in c for c in contents)
    frank = await api.get("/v1/memories/search", params={"subject_id": subject, "q": "frank"})
    assert any("Oslo" in m["content"] for m in frank.json()["memories"])
    none = await api.get("/v1/memories/search", params={"subject_id": subject, "q": "Frank zzz"})
    assert none.json()["memories"] == []


async def test_inputs_the_original_accepted(api: httpx.AsyncClient) -> None:
    no_session = _episode("lenient", "A message without a session", session_id="")
    created = await api.post("/v1/episodes", json=no_session)
    assert created.status_code == 201, created.text
    assert created.json()["session_id"] is None
    batch = await api.post("/v1/episodes/batch", json={"episodes": [no_session]})
    assert batch.status_code == 201 and batch.json()["episodes"][0]["session_id"] is None
    context = await api.post(
        "/v1/context", json={"subject_id": "lenient", "task": "anything", "session_id": ""}
    )
    assert context.status_code == 200

    zero = await api.get("/v1/memories/search", params={"subject_id": "lenient", "limit": 0})
    assert (zero.status_code, zero.json()) == (200, {"memories": []})
    zero_q = await api.get(
        "/v1/memories/search", params={"subject_id": "lenient", "q": "message", "limit": 0}
    )
    assert zero_q.json() == {"memories": []}
    page = await api.get("/v1/timeline", params={"subject_id": "lenient", "limit": 0})
    assert page.status_code == 200 and page.json()["episodes"] == []
    empty = await api.get("/v1/timeline", params={"subject_id": ""})
    assert empty.status_code == 200
    assert (empty.json()["episodes"], empty.json()["memories"]) == ([], [])
    negative = await api.get("/v1/memories/search", params={"subject_id": "x", "limit": -1})
    assert negative.status_code == 422


async def test_deliberate_differences(api: httpx.AsyncClient) -> None:
    acme = {"X-Tenant-ID": "acme-only"}
    episode = _episode("tenant-secret", "Only acme may read this")
    assert (await api.post("/v1/episodes", json=episode, headers=acme)).status_code == 201
    unscoped = await api.get("/v1/timeline", params={"subject_id": "tenant-secret"})
    assert unscoped.json()["episodes"] == []  # no header: the default tenant only
    scoped = await api.get("/v1/timeline", params={"subject_id": "tenant-secret"}, headers=acme)
    assert len(scoped.json()["episodes"]) == 1
    for i in range(3):
        await api.post("/v1/episodes", json=_episode(f"paged-{i}", "hello there"), headers=acme)
    page = (await api.get("/v1/subjects", params={"limit": 1}, headers=acme)).json()
    assert len(page["subjects"]) == 1 and page["total"] == 4  # global, not the page's rows
