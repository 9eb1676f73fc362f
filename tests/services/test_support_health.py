"""Health scoring signal by signal, on hand-built data (pure, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from statewave_server.services.support.health import compute_health, health_state, is_urgent
from statewave_server.services.support.health_signals import PHRASE_SIGNALS
from statewave_server.services.support.records import (
    SupportData,
    SupportEpisode,
    SupportResolution,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ep(
    session: str | None, text: str, *, source: str = "user", minutes_ago: float = 60
) -> SupportEpisode:
    payload = {"messages": [{"role": source, "content": text}]}
    at = NOW - timedelta(minutes=minutes_ago)
    return SupportEpisode(uuid.uuid4(), source, "message", payload, at, session)


def res(session: str, status: str, *, resolved_days_ago: float | None = None) -> SupportResolution:
    resolved = NOW - timedelta(days=resolved_days_ago) if resolved_days_ago is not None else None
    return SupportResolution(session, status, None, resolved)


def signals(data: SupportData) -> dict[str, int]:
    return {f.signal: f.impact for f in compute_health(data, NOW).factors}


def test_no_history_is_fully_healthy() -> None:
    report = compute_health(SupportData((), ()), NOW)
    assert (report.score, report.state, report.factors) == (100, "healthy", ())


@pytest.mark.parametrize(("n", "impact"), [(1, -15), (3, -45), (5, -45)])
def test_open_sessions_cost_15_each_capped_at_45(n: int, impact: int) -> None:
    data = SupportData((), tuple(res(f"s{i}", "open") for i in range(n)))
    report = compute_health(data, NOW)
    assert report.factors[0].signal == "unresolved_issues"
    assert report.factors[0].impact == impact
    assert report.factors[0].detail == f"{n} open session(s)"
    assert report.score == 100 + impact


def test_unresolved_status_is_not_open() -> None:
    assert signals(SupportData((), (res("s", "unresolved"),))) == {}


def test_repeated_issue_needs_keyword_overlap_with_a_resolved_session() -> None:
    episodes = (
        ep("old", "CSV export fails with timeout", minutes_ago=3000),
        ep("new", "the CSV export fails again"),
    )
    resolutions = (res("new", "open"), res("old", "resolved", resolved_days_ago=30))
    assert signals(SupportData(episodes, resolutions))["repeated_issues"] == -20
    unrelated = (ep("old", "billing address change", minutes_ago=3000), episodes[1])
    assert "repeated_issues" not in signals(SupportData(unrelated, resolutions))


def test_urgency_markers_cost_10_per_episode_capped_at_20() -> None:
    one = (ep("s", "This is URGENT"), ep("s", "all good"))
    assert signals(SupportData(one, ()))["escalations"] == -10
    three = (ep("s", "outage"), ep("s", "escalated to sev1"), ep("s", "P1 issue"))
    factor = compute_health(SupportData(three, ()), NOW).factors[0]
    assert (factor.impact, factor.detail) == (-20, "3 episode(s) with urgency markers")


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("the site is down", True),
        ("please escalate", True),
        ("need this asap", True),
        ("download the report", False),
        ("call api1 again", False),
        ("a plain question", False),
    ],
)
def test_urgency_matches_words_not_fragments(text: str, urgent: bool) -> None:
    assert is_urgent(text) is urgent


def test_idle_open_session_after_seven_whole_days() -> None:
    idle = (ep("s", "hello?", minutes_ago=7 * 24 * 60 + 5),)
    report = compute_health(SupportData(idle, (res("s", "open"),)), NOW)
    assert [(f.signal, f.impact, f.detail) for f in report.factors] == [
        ("unresolved_issues", -15, "1 open session(s)"),
        ("idle_open_issue", -15, "Session s idle for 7 days"),
    ]
    fresh = (ep("s", "hello?", minutes_ago=6 * 24 * 60),)
    assert "idle_open_issue" not in signals(SupportData(fresh, (res("s", "open"),)))


def test_recent_resolutions_and_high_resolution_rate() -> None:
    resolutions = (
        res("a", "resolved", resolved_days_ago=1),
        res("b", "resolved", resolved_days_ago=30),
        res("c", "resolved", resolved_days_ago=40),
        res("d", "resolved", resolved_days_ago=50),
        res("e", "unresolved"),
    )
    report = compute_health(SupportData((), resolutions), NOW)
    assert [(f.signal, f.impact, f.detail) for f in report.factors] == [
        ("recent_resolution", 10, "1 session(s) resolved in last 7 days"),
        ("high_resolution_rate", 10, "80% sessions resolved (4/5)"),
    ]
    assert report.score == 100  # clamped


def test_resolution_sla_breaches_and_slow_first_response() -> None:
    episodes = (
        ep("a", "broken export", minutes_ago=3 * 24 * 60),
        ep("a", "looking", source="agent", minutes_ago=3 * 24 * 60 - 30),
        ep("b", "question", minutes_ago=60),
        ep("b", "answer", source="assistant", minutes_ago=50),
    )
    resolutions = (
        res("a", "resolved", resolved_days_ago=1),  # 48 h after the first message
        res("b", "open"),
    )
    found = signals(SupportData(episodes, resolutions))
    # first responses: 30 min and 10 min -> average 20 min > 10 min
    assert found["sla_resolution_breaches"] == -10
    assert found["slow_first_response"] == -5
    report = compute_health(SupportData(episodes, resolutions), NOW)
    # 100 - 15 (open) - 10 ("broken") + 10 (resolved yesterday) - 10 (48 h) - 5 (20 min)
    assert report.score == 70 and report.state == "healthy"
    assert report.factors[-1].detail == "Avg first response 20.0 min (threshold: 10 min)"


def test_text_payloads_count_too_and_roles_are_not_keywords() -> None:
    plain = SupportEpisode(uuid.uuid4(), "user", "note", {"text": "critical!"}, NOW, "s")
    assert signals(SupportData((plain,), ())) == {"escalations": -10}


@pytest.mark.parametrize(
    ("score", "state"), [(100, "healthy"), (70, "healthy"), (69, "watch"), (40, "watch"),
                         (39, "at_risk"), (0, "at_risk")]
)  # fmt: skip
def test_state_buckets(score: int, state: str) -> None:
    assert health_state(score) == state


def test_top_factors_are_the_largest_impacts() -> None:
    data = SupportData(
        (ep("s", "urgent"),),
        (res("s", "open"), res("t", "open"), res("u", "resolved", resolved_days_ago=1)),
    )
    report = compute_health(data, NOW)
    assert [f.signal for f in report.top_factors()] == [
        "unresolved_issues",
        "escalations",
        "recent_resolution",
    ]


def say(session: str, *lines: tuple[str, str], days_ago: float = 1) -> SupportEpisode:
    """One episode with a conversation of ``(role, text)`` lines."""
    payload = {"messages": [{"role": role, "content": text} for role, text in lines]}
    at = NOW - timedelta(days=days_ago)
    return SupportEpisode(uuid.uuid4(), "support-chat", "conversation", payload, at, session)


def test_a_customer_threatening_to_cancel_on_an_open_ticket_is_not_healthy() -> None:
    episodes = (
        say("s-11", ("user", "Our nightly sync to Salesforce failed again."), days_ago=4),
        say(
            "s-12",
            ("user", "This is the third time this month the sync broke. Unacceptable."),
            ("assistant", "I'm sorry you're frustrated, I'll look into it right away."),
            days_ago=2,
        ),
        say(
            "s-12",
            ("user", "It is still not fixed. If this isn't sorted by Friday we will cancel."),
            ("user", "I want to speak to a manager."),
        ),
    )
    report = compute_health(SupportData(episodes, (res("s-12", "unresolved"),)), NOW)
    found = {f.signal: f for f in report.factors}
    assert set(found) == {
        "churn_threat",
        "escalation_request",
        "frustration",
        "repeat_contact",
        "still_unresolved",
    }
    churn = found["churn_threat"]
    assert churn.impact == -35
    assert churn.detail.startswith('said "')
    assert "we will cancel" in churn.detail and "2026-02-28, session s-12" in churn.detail
    assert [e.episode_id for e in churn.evidence] == [episodes[2].id]
    # The agent's "frustrated" is not the customer's: frustration comes from "Unacceptable".
    assert [e.episode_id for e in found["frustration"].evidence] == [episodes[1].id]
    assert report.score == 100 - 35 - 15 - 10 - 10 - 10
    assert report.state == "at_risk"
    assert found["still_unresolved"].as_dict()["evidence"][0]["session_id"] == "s-12"


def test_phrase_signals_cap_and_ignore_old_or_agent_only_text() -> None:
    threats = tuple(
        say(f"s{i}", ("user", "We are going to cancel our subscription.")) for i in range(3)
    )
    assert signals(SupportData(threats, ())) == {"churn_threat": -50}
    old = (say("s", ("user", "We will cancel."), days_ago=45),)
    agent = (say("s", ("assistant", "You can cancel your plan in settings; no refund needed.")),)
    plain = (say("s", ("user", "How do I cancel a scheduled export?")),)
    assert signals(SupportData(old + agent + plain, ())) == {}


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("We won't renew the contract next year.", "churn_threat"),
        ("We're switching to a competitor.", "churn_threat"),
        ("Please escalate this to engineering.", "escalation_request"),
        ("I'm fed up with this.", "frustration"),
        ("I already reported this last week.", "repeat_contact"),
        ("Still waiting on an answer.", "still_unresolved"),
        ("No one has gotten back to me.", "still_unresolved"),
    ],
)
def test_each_phrase_family_matches(text: str, signal: str) -> None:
    found = signals(SupportData((say("s", ("user", text)),), ()))
    assert set(found) & {s.name for s in PHRASE_SIGNALS} == {signal}


def test_a_factor_keeps_its_newest_evidence_and_counts_the_rest() -> None:
    angry = tuple(
        say(f"s{i}", ("user", f"Ticket {i}: this is unacceptable."), days_ago=20 - i)
        for i in range(12)
    )
    (factor,) = compute_health(SupportData(angry, ()), NOW).factors
    assert (factor.signal, factor.impact) == ("frustration", -20)
    assert len(factor.evidence) == 10 and factor.evidence[-1].episode_id == angry[-1].id
    assert factor.detail.endswith("session s11 (+11 more)")
