"""Handoff briefs from hand-built data (pure): sections, newest data, budget."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from statewave_server.services.support.handoff import Fact, HandoffPack, build_handoff
from statewave_server.services.support.health import compute_health
from statewave_server.services.support.records import (
    SupportData,
    SupportEpisode,
    SupportResolution,
)
from statewave_server.services.support.sla import compute_sla
from statewave_server.services.tokens import count_tokens

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ep(
    session: str | None, source: str, text: str, minutes_ago: float, type_: str = "message"
) -> SupportEpisode:
    at = NOW - timedelta(minutes=minutes_ago)
    payload = {"messages": [{"role": source, "content": text}]}
    return SupportEpisode(uuid.uuid4(), source, type_, payload, at, session)


def build(
    data: SupportData, facts: list[Fact] | None = None, max_tokens: int = 4000
) -> HandoffPack:
    return build_handoff(
        "subj",
        "cur",
        reason="shift change",
        max_tokens=max_tokens,
        facts=facts or [],
        data=data,
        health=compute_health(data, NOW),
        sla=compute_sla("subj", data, NOW),
        now=NOW,
    )


def test_only_the_newest_episodes_of_other_sessions_are_recent_context() -> None:
    old = [ep("old", "user", f"old message {i}", 1000 - i) for i in range(40)]
    current = [
        ep("cur", "assistant", "Hello, how can I help?", 30),
        ep("cur", "user", "My invoice total is wrong", 29),
        ep("cur", "tool", "lookup_invoice(42)", 28, "tool_call"),
        ep("cur", "agent", "I recalculated the invoice", 27, "action"),
        ep("cur", "user", "ok", 26),
    ]
    pack = build(SupportData(tuple(old + current), ()))
    assert pack.recent_context[0] == "[user/message] [old] old message 39"
    assert len(pack.recent_context) == 5
    assert pack.active_issue == (
        "[user/message] My invoice total is wrong (+ 4 more messages in session)"
    )
    assert pack.attempted_steps == (
        "Hello, how can I help?",
        "lookup_invoice(42)",
        "I recalculated the invoice",
    )
    assert pack.provenance["episode_ids"] == [str(e.id) for e in current]


def test_attempted_steps_keep_the_latest_five() -> None:
    steps = [ep("cur", "agent", f"step {i}", 100 - i) for i in range(8)]
    pack = build(SupportData(tuple(steps), ()))
    assert pack.attempted_steps == tuple(f"step {i}" for i in range(3, 8))


def test_sections_facts_and_resolution_history() -> None:
    facts = [Fact(uuid.uuid4(), f"fact {i}") for i in range(10)]
    resolutions = (
        SupportResolution("cur", "open"),
        SupportResolution("r1", "resolved", "Reset the password", NOW - timedelta(days=2)),
        SupportResolution("r2", "unresolved", None),
        SupportResolution("r3", "resolved", None, NOW - timedelta(days=3)),
    )
    pack = build(SupportData((ep("cur", "user", "Login fails", 5),), resolutions), facts)
    assert pack.key_facts == tuple(f"fact {i}" for i in range(8))
    assert pack.customer_summary == "subj — fact 0; fact 1; fact 2"
    notes = pack.handoff_notes
    assert notes.startswith("# Handoff Brief — subj\nReason: shift change\nSession: cur\n\n")
    assert "## Open Issues\n- [cur] No summary\n- [r2] No summary\n\n" in notes
    assert "## Previously Resolved\n- [r1] Reset the password\n- [r3] Resolved\n\n" in notes
    assert "## What Has Been Tried" not in notes  # empty sections are left out
    assert "## Recent Context" not in notes
    # 100 - 15 (cur is open) + 10 (r1 and r3 resolved this week) = 95 -> healthy
    assert pack.health.score == 95
    assert "🟢 Health: HEALTHY (score: 95) — " in notes
    order = ["## Customer\n", "## Customer Health", "## SLA Status", "## Active Issue",
             "## Open Issues", "## Previously Resolved", "## Key Facts"]  # fmt: skip
    positions = [notes.index(title) for title in order]
    assert positions == sorted(positions)
    assert pack.provenance["resolution_ids"] == [str(r.id) for r in resolutions]


def test_no_history_brief() -> None:
    pack = build(SupportData((), ()))
    assert pack.customer_summary == "Subject: subj"
    assert pack.active_issue == "" and pack.attempted_steps == ()
    assert "## SLA Status" not in pack.handoff_notes
    assert "🟢 Health: HEALTHY (score: 100)\n" in pack.handoff_notes + "\n"


def test_budget_truncates_to_max_tokens() -> None:
    episodes = tuple(ep("cur", "agent", "word " * 100, 50 - i) for i in range(5))
    full = build(SupportData(episodes, ()))
    assert full.token_estimate == count_tokens(full.handoff_notes) > 50
    cut = build(SupportData(episodes, ()), max_tokens=50)
    assert cut.token_estimate <= 50
    assert full.handoff_notes.startswith(cut.handoff_notes)
