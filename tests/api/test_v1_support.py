"""Support endpoints end to end: resolutions, context repeat issues, handoff, health, SLA.

Episode times are set by hand (``created_at`` and ``occurred_at`` updates) so health and SLA
numbers can be worked out on paper in the comments and compared exactly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from statewave.models import Handoff, Health, Resolution, SLASummary

A = {"X-Tenant-ID": "support-a"}
B = {"X-Tenant-ID": "support-b"}
SUBJECT = "cust-jordan"


def _msg(role: str, content: str, session: str, subject: str = SUBJECT) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "source": role,
        "type": "message",
        "payload": {"messages": [{"role": role, "content": content}]},
        "session_id": session,
    }


# (session, role, content, how long before the story is written it was created)
STORY = [
    ("s1", "user", "Hi, my name is Jordan Lee and I work at Acme Corp. Our CSV export "
     "fails with a timeout error.", timedelta(hours=30)),
    ("s1", "assistant", "I cleared the export cache and restarted the export worker.",
     timedelta(hours=30) - timedelta(minutes=20)),
    ("s1", "user", "Thanks, the CSV export works now.", timedelta(hours=29)),
    ("s0", "user", "Can you update the billing address on my invoices?",
     timedelta(hours=2)),
    ("s0", "assistant", "Done, the billing address on your invoices is updated.",
     timedelta(hours=2) - timedelta(minutes=3)),
    ("s2", "user", "The CSV export fails again with a timeout error, this is urgent!",
     timedelta(minutes=10)),
    ("s2", "assistant", "Checking the export worker logs now.", timedelta(minutes=8)),
]  # fmt: skip
S1_SUMMARY = "Cleared the export cache and restarted the export worker (CSV export timeout)"


async def _events(engine: AsyncEngine, tenant: str, subject: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event, tenant_id, payload FROM webhook_events "
                "WHERE event LIKE 'subject.health_%' AND payload->'data'->>'subject_id' = :s "
                "ORDER BY created_at, id"
            ),
            {"s": subject},
        )
        return [
            {"event": e, "tenant_id": t, **p} for e, t, p in rows if t == tenant or tenant == "*"
        ]


async def _set_times(engine: AsyncEngine, ids: list[str], times: list[datetime]) -> None:
    async with engine.begin() as conn:
        for episode_id, at in zip(ids, times, strict=True):
            await conn.execute(
                text("UPDATE episodes SET created_at = :at, occurred_at = :at WHERE id = :id"),
                {"at": at, "id": uuid.UUID(episode_id)},
            )


async def _resolve(api: httpx.AsyncClient, session: str, status: str, **extra: Any) -> Any:
    body = {"subject_id": SUBJECT, "session_id": session, "status": status, **extra}
    response = await api.post("/v1/resolutions", json=body, headers=A)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def t0() -> datetime:
    """When the story is written: its times are relative to it, so the ages the handoff
    reports do not depend on how long the run took to reach this module."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
async def story(api: httpx.AsyncClient, engine: AsyncEngine, t0: datetime) -> dict[str, list[str]]:
    """Session s1 (CSV export timeout, resolved with a summary), s0 (billing, resolved),
    s2 (the same CSV problem again, open, urgent). Not compiled yet: compiled episodes
    are covered by their summaries and leave the raw-episode part of the context."""
    batch = [_msg(role, content, sid) for sid, role, content, _ in STORY]
    created = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=A)
    assert created.status_code == 201
    ids = [e["id"] for e in created.json()["episodes"]]
    await _set_times(engine, ids, [t0 - ago for *_, ago in STORY])
    await _resolve(api, "s1", "resolved", resolution_summary=S1_SUMMARY)
    await _resolve(api, "s0", "resolved", resolution_summary="Billing address updated")
    await _resolve(api, "s2", "open")
    async with engine.begin() as conn:  # resolved 25 h after s1's first message; s0 after 1 h
        for sid, at in (("s1", t0 - timedelta(hours=5)), ("s0", t0 - timedelta(hours=1))):
            await conn.execute(
                text("UPDATE resolutions SET resolved_at = :at WHERE session_id = :s"),
                {"at": at, "s": sid},
            )
    by_session: dict[str, list[str]] = {}
    for (sid, *_), episode_id in zip(STORY, ids, strict=True):
        by_session.setdefault(sid, []).append(episode_id)
    return by_session


@pytest.fixture(scope="module")
async def compiled(api: httpx.AsyncClient, story: dict[str, list[str]]) -> dict[str, list[str]]:
    """The story with the subject's memories compiled (profile facts for the handoff)."""
    response = await api.post("/v1/memories/compile", json={"subject_id": SUBJECT}, headers=A)
    assert response.status_code == 200
    return story


async def test_context_puts_the_current_session_first_and_surfaces_the_repeat(
    api: httpx.AsyncClient, story: dict[str, list[str]]
) -> None:
    body = {"subject_id": SUBJECT, "task": "CSV export timeout error", "session_id": "s2"}
    bundle = (await api.post("/v1/context", json=body, headers=A)).json()
    assert [e["session_id"] for e in bundle["episodes"]][:2] == ["s2", "s2"]
    assert {e["id"] for e in bundle["episodes"][:2]} == set(story["s2"])
    assert "### Current session (s2)" in bundle["assembled_context"]
    assert bundle["sessions"][0]["session_id"] == "s2"
    # A task sharing no words with any episode isolates the repeat-issue boost: s1's
    # opening message (oldest: recency 0) scores 3 + 0 - 5 (resolved) + 6 (repeat of the
    # current session, with a summary) = 4, above s0's user message (resolved, ~2 h old,
    # recency ~4.7: 3 + 4.7 - 5 = 2.7), which it would trail by far without the boost.
    body["task"] = "what is going on"
    bundle = (await api.post("/v1/context", json=body, headers=A)).json()
    ranked = [e["id"] for e in bundle["episodes"]]
    assert set(ranked[:2]) == set(story["s2"])
    assert ranked.index(story["s1"][0]) < ranked.index(story["s0"][0])


async def test_handoff_brief_and_its_health_alert(
    api: httpx.AsyncClient, engine: AsyncEngine, compiled: dict[str, list[str]]
) -> None:
    story = compiled
    response = await api.post(
        "/v1/handoff",
        json={"subject_id": SUBJECT, "session_id": "s2", "emit_receipt": True},
        headers=A,
    )
    assert response.status_code == 200, response.text
    pack = response.json()
    Handoff.model_validate(pack)
    assert pack["reason"] == "escalation"
    assert pack["generated_at"].endswith("Z")
    assert pack["active_issue"] == (
        "[user/message] The CSV export fails again with a timeout error, this is urgent! "
        "(+ 1 more messages in session)"
    )
    assert pack["attempted_steps"] == ["Checking the export worker logs now."]
    assert any("Jordan Lee" in f for f in pack["key_facts"])
    assert pack["customer_summary"].startswith(f"{SUBJECT} — ")
    assert [r["session_id"] for r in pack["resolution_history"]] == ["s2", "s0", "s1"]
    # The newest other-session episodes first: s0's two, then s1's last.
    assert pack["recent_context"][0] == (
        "[assistant/message] [s0] Done, the billing address on your invoices is updated."
    )
    assert pack["provenance"]["episode_ids"] == story["s2"]
    assert pack["provenance"]["context_episode_ids"][:2] == story["s0"][::-1]
    # Health by hand: 100 - 15 (1 open) - 20 (s2 repeats s1) - 10 (1 urgent episode)
    # + 10 (2 resolved this week) - 10 (s1 resolved 25 h after its first message)
    # = 55 -> watch. Avg first response over resolved/open sessions: (1200 + 180 + 120)/3
    # = 500 s = 8.3 min <= 10 min: no penalty; 2 of 3 resolved < 80 %: no bonus.
    assert (pack["health_score"], pack["health_state"]) == (55, "watch")
    assert [f["signal"] for f in pack["health_factors"]] == [
        "repeated_issues",
        "unresolved_issues",
        "escalations",
    ]
    notes = pack["handoff_notes"]
    assert notes.startswith(f"# Handoff Brief — {SUBJECT}\nReason: escalation\nSession: s2\n")
    for line in (
        "🟡 Health: WATCH (score: 55) — Open issues resemble previously resolved ones",
        "## SLA Status\n- ⚠️ First-response SLA breached in 1 session(s)\n"
        "- ⚠️ Resolution SLA breached in 1 session(s)\n- Open issue age: 0.2h\n"
        "- Avg first response: 8.3 min",
        "## Active Issue\n[user/message] The CSV export fails again",
        "## What Has Been Tried\n- Checking the export worker logs now.",
        "## Open Issues\n- [s2] No summary",
        f"## Previously Resolved\n- [s0] Billing address updated\n- [s1] {S1_SUMMARY}",
        "## Key Facts\n- ",
        "## Recent Context (other sessions)\n- [assistant/message] [s0]",
    ):
        assert line in notes
    assert pack["token_estimate"] > 0
    # Handoff computed health: the degradation alert is committed with the cache row.
    events = await _events(engine, "support-a", SUBJECT)
    assert [e["event"] for e in events] == ["subject.health_degraded"]
    data = events[0]["data"]
    assert (data["previous_state"], data["current_state"], data["score"]) == (
        "healthy",
        "watch",
        55,
    )
    assert events[0]["tenant_id"] == "support-a" and len(data["factors"]) == 3
    async with engine.connect() as conn:
        cached = (
            await conn.execute(
                text(
                    "SELECT tenant_id, last_state, last_score FROM subject_health_cache "
                    "WHERE subject_id = :s"
                ),
                {"s": SUBJECT},
            )
        ).all()
    assert cached == [("support-a", "watch", 55)]


async def test_handoff_budget_cuts_the_notes(
    api: httpx.AsyncClient, story: dict[str, list[str]]
) -> None:
    body = {"subject_id": SUBJECT, "session_id": "s2", "max_tokens": 12}
    pack = (await api.post("/v1/handoff", json=body, headers=A)).json()
    assert pack["token_estimate"] <= 12
    assert pack["handoff_notes"].startswith("# Handoff Brief")
    assert "## Key Facts" not in pack["handoff_notes"]


async def test_sla_numbers(
    api: httpx.AsyncClient, story: dict[str, list[str]], t0: datetime
) -> None:
    response = await api.get(f"/v1/subjects/{SUBJECT}/sla", headers=A)
    assert response.status_code == 200
    sla = response.json()
    SLASummary.model_validate(sla)
    # s1: response after 20 min (breach > 5 min), resolved 25 h after (breach > 24 h).
    # s0: 3 min, 1 h. s2: 2 min, open ~10 min.
    assert [s["session_id"] for s in sla["sessions"]] == ["s1", "s0", "s2"]
    assert (sla["total_sessions"], sla["resolved_sessions"], sla["open_sessions"]) == (3, 2, 1)
    assert sla["avg_first_response_seconds"] == pytest.approx((1200 + 180 + 120) / 3)
    assert sla["avg_resolution_seconds"] == pytest.approx((25 * 3600 + 3600) / 2)
    assert (sla["first_response_breach_count"], sla["resolution_breach_count"]) == (1, 1)
    s1, s0, s2 = sla["sessions"]
    assert (s1["first_response_seconds"], s1["resolution_seconds"]) == (1200, 25 * 3600)
    assert s1["first_response_breached"] and s1["resolution_breached"]
    assert s1["first_message_at"] == (t0 - timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    assert s0["status"] == "resolved" and not s0["first_response_breached"]
    assert s2["status"] == "open" and s2["resolution_seconds"] is None
    assert 600 <= s2["open_duration_seconds"] < 900
    relaxed = await api.get(
        f"/v1/subjects/{SUBJECT}/sla",
        params={"first_response_threshold_minutes": 30, "resolution_threshold_hours": 26},
        headers=A,
    )
    assert relaxed.json()["first_response_breach_count"] == 0
    assert relaxed.json()["resolution_breach_count"] == 0


async def test_health_alerts_fire_once_per_transition(
    api: httpx.AsyncClient, engine: AsyncEngine, story: dict[str, list[str]]
) -> None:
    await api.post("/v1/handoff", json={"subject_id": SUBJECT, "session_id": "s2"}, headers=A)
    health = (await api.get(f"/v1/subjects/{SUBJECT}/health", headers=A)).json()
    Health.model_validate(health)
    assert (health["score"], health["state"]) == (55, "watch")
    assert [f["signal"] for f in health["factors"]] == [
        "unresolved_issues",
        "repeated_issues",
        "escalations",
        "recent_resolution",
        "sla_resolution_breaches",
    ]
    assert [f["impact"] for f in health["factors"]] == [-15, -20, -10, 10, -10]
    assert len(await _events(engine, "support-a", SUBJECT)) == 1  # still just the degrade

    await _resolve(api, "s2", "resolved", resolution_summary="Restarted the worker again")
    # Recovered: 100 - 10 (urgent) + 10 (3 resolved this week) + 10 (3/3 resolved)
    # - 10 (s1's 25 h resolution) = 100 -> healthy.
    recovered = (await api.get(f"/v1/subjects/{SUBJECT}/health", headers=A)).json()
    assert (recovered["score"], recovered["state"]) == (100, "healthy")
    await api.get(f"/v1/subjects/{SUBJECT}/health", headers=A)
    events = await _events(engine, "support-a", SUBJECT)
    assert [e["event"] for e in events] == ["subject.health_degraded", "subject.health_improved"]
    assert events[1]["data"]["previous_state"] == "watch"
    assert events[1]["data"]["current_state"] == "healthy"


async def test_tenant_b_never_sees_tenant_a(
    api: httpx.AsyncClient, engine: AsyncEngine, story: dict[str, list[str]]
) -> None:
    listed = await api.get("/v1/resolutions", params={"subject_id": SUBJECT}, headers=B)
    assert listed.status_code == 200 and listed.json() == []
    health = (await api.get(f"/v1/subjects/{SUBJECT}/health", headers=B)).json()
    assert health == {"subject_id": SUBJECT, "score": 100, "state": "healthy", "factors": []}
    sla = (await api.get(f"/v1/subjects/{SUBJECT}/sla", headers=B)).json()
    assert sla["total_sessions"] == 0 and sla["sessions"] == []
    pack = (
        await api.post("/v1/handoff", json={"subject_id": SUBJECT, "session_id": "s2"}, headers=B)
    ).json()
    assert pack["active_issue"] == "" and pack["key_facts"] == []
    assert pack["resolution_history"] == [] and pack["recent_context"] == []
    assert pack["customer_summary"] == f"Subject: {SUBJECT}"
    assert "Jordan" not in pack["handoff_notes"] and "CSV" not in pack["handoff_notes"]
    assert await _events(engine, "support-b", SUBJECT) == []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT tenant_id, last_state FROM subject_health_cache "
                    "WHERE subject_id = :s ORDER BY tenant_id"
                ),
                {"s": SUBJECT},
            )
        ).all()
    assert [r[0] for r in rows] == ["support-a", "support-b"]
    assert rows[1][1] == "healthy"


async def test_resolution_update_returns_200_with_the_new_values(
    api: httpx.AsyncClient,
) -> None:
    base = {"subject_id": "upd", "session_id": "x1"}
    created = await api.post("/v1/resolutions", json=base, headers=A)
    assert created.status_code == 200
    first = created.json()
    Resolution.model_validate(first)
    assert (first["status"], first["resolved_at"], first["metadata"]) == ("open", None, {})
    resolved = await api.post(
        "/v1/resolutions",
        json={**base, "status": "resolved", "resolution_summary": "fixed", "metadata": {"k": 1}},
        headers=A,
    )
    assert resolved.status_code == 200
    second = resolved.json()
    assert second["id"] == first["id"] and second["created_at"] == first["created_at"]
    assert (second["status"], second["resolution_summary"], second["metadata"]) == (
        "resolved",
        "fixed",
        {"k": 1},
    )
    assert second["resolved_at"].endswith("Z") and second["updated_at"] >= first["updated_at"]
    again = await api.post(
        "/v1/resolutions",
        json={**base, "status": "resolved", "resolution_summary": "fixed, confirmed"},
        headers=A,
    )
    assert again.json()["resolved_at"] == second["resolved_at"]  # kept, not re-stamped
    assert again.json()["metadata"] == {}
    reopened = await api.post("/v1/resolutions", json={**base, "status": "open"}, headers=A)
    assert reopened.status_code == 200
    assert (reopened.json()["status"], reopened.json()["resolved_at"]) == ("open", None)
    listed = await api.get("/v1/resolutions", params={"subject_id": "upd"}, headers=A)
    assert [r["id"] for r in listed.json()] == [first["id"]]
    other = await api.get("/v1/resolutions", params={"subject_id": "upd"}, headers=B)
    assert other.json() == []


async def test_list_is_newest_updated_first_with_filter_and_paging(
    api: httpx.AsyncClient,
) -> None:
    for sid, status in (("l1", "resolved"), ("l2", "open"), ("l3", "unresolved")):
        await api.post(
            "/v1/resolutions",
            json={"subject_id": "lst", "session_id": sid, "status": status},
            headers=A,
        )
    await api.post(
        "/v1/resolutions", json={"subject_id": "lst", "session_id": "l1"}, headers=A
    )  # l1 updated last (now open)
    params: dict[str, Any] = {"subject_id": "lst"}
    listed = (await api.get("/v1/resolutions", params=params, headers=A)).json()
    assert [r["session_id"] for r in listed] == ["l1", "l3", "l2"]
    only_open = await api.get("/v1/resolutions", params={**params, "status": "open"}, headers=A)
    assert [r["session_id"] for r in only_open.json()] == ["l1", "l2"]
    page = await api.get("/v1/resolutions", params={**params, "limit": 1, "offset": 1}, headers=A)
    assert [r["session_id"] for r in page.json()] == ["l3"]


async def test_subject_ids_with_a_slash_are_addressable(api: httpx.AsyncClient) -> None:
    await api.post(
        "/v1/resolutions",
        json={"subject_id": "org/42", "session_id": "z", "status": "open"},
        headers=A,
    )
    health = await api.get("/v1/subjects/org/42/health", headers=A)
    assert health.status_code == 200
    assert health.json()["subject_id"] == "org/42"
    assert health.json()["factors"][0]["signal"] == "unresolved_issues"
    sla = await api.get("/v1/subjects/org%2F42/sla", headers=A)
    assert sla.status_code == 200 and sla.json()["subject_id"] == "org/42"


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("POST", "/v1/resolutions", {"subject_id": "s"}),
        ("POST", "/v1/resolutions", {"subject_id": "s", "session_id": "x", "status": "done"}),
        ("POST", "/v1/resolutions", {"subject_id": "", "session_id": "x"}),
        ("POST", "/v1/resolutions", {"subject_id": "s", "session_id": "x" * 257}),
        ("POST", "/v1/resolutions", {"subject_id": "s", "session_id": "x", "metadata": [1]}),
        (
            "POST",
            "/v1/resolutions",
            {"subject_id": "s", "session_id": "x", "resolution_summary": "y" * 2001},
        ),
        ("GET", "/v1/resolutions", None),
        ("GET", "/v1/resolutions?subject_id=s&status=bogus", None),
        ("GET", "/v1/resolutions?subject_id=s&limit=0", None),
        ("GET", "/v1/resolutions?subject_id=s&limit=201", None),
        ("GET", "/v1/resolutions?subject_id=s&offset=-1", None),
        ("POST", "/v1/handoff", {"subject_id": "s"}),
        ("POST", "/v1/handoff", {"subject_id": "s", "session_id": "x", "max_tokens": 0}),
        ("POST", "/v1/handoff", {"subject_id": "s", "session_id": "x", "max_tokens": 16001}),
        ("POST", "/v1/handoff", {"subject_id": "s", "session_id": "x", "reason": "r" * 257}),
        ("GET", "/v1/subjects/s/sla?first_response_threshold_minutes=-1", None),
        ("GET", "/v1/subjects/s/sla?resolution_threshold_hours=soon", None),
        ("GET", "/v1/subjects/s/sla?resolution_threshold_hours=nan", None),
        ("GET", f"/v1/subjects/{'x' * 257}/health", None),
        ("GET", "/v1/subjects//health", None),
    ],
)
async def test_malformed_input_is_a_422_envelope(
    api: httpx.AsyncClient, method: str, url: str, payload: dict[str, Any] | None
) -> None:
    response = await api.request(method, url, json=payload, headers=A)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
