"""SLA metrics per session and in aggregate (pure, hand-checked numbers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from statewave_server.services.support.records import (
    SupportData,
    SupportEpisode,
    SupportResolution,
)
from statewave_server.services.support.sla import SlaThresholds, compute_sla, session_sla

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ep(session: str | None, source: str, minutes_ago: float) -> SupportEpisode:
    at = NOW - timedelta(minutes=minutes_ago)
    return SupportEpisode(uuid.uuid4(), source, "message", {"text": "x"}, at, session)


def test_first_response_counts_from_the_first_customer_message() -> None:
    episodes = [
        ep("s", "system", 100),  # before the customer wrote: not a response
        ep("s", "chat", 90),
        ep("s", "agent", 84),
    ]
    m = session_sla("s", episodes, None, NOW)
    assert m.status == "unknown"
    assert m.first_message_at == NOW - timedelta(minutes=90)
    assert m.first_response_seconds == 360 and m.first_response_breached  # 6 min > 5 min
    assert m.resolution_seconds is None and m.open_duration_seconds is None


def test_without_a_customer_message_any_response_counts_and_the_clock_is_the_first_episode() -> (
    None
):
    m = session_sla("s", [ep("s", "tool", 30), ep("s", "assistant", 20)], None, NOW)
    assert m.first_message_at == NOW - timedelta(minutes=30)
    assert m.first_response_at == NOW - timedelta(minutes=30)
    assert m.first_response_seconds is None  # no customer message to measure from


def test_resolution_and_open_durations_with_thresholds() -> None:
    resolved = SupportResolution("r", "resolved", "done", NOW - timedelta(hours=1))
    m = session_sla("r", [ep("r", "user", 26 * 60)], resolved, NOW)
    assert m.resolution_seconds == 25 * 3600 and m.resolution_breached
    relaxed = SlaThresholds.of(first_response_minutes=5, resolution_hours=25)
    assert not session_sla(
        "r", [ep("r", "user", 26 * 60)], resolved, NOW, relaxed
    ).resolution_breached
    opened = session_sla("o", [ep("o", "customer", 90)], SupportResolution("o", "open"), NOW)
    assert opened.open_duration_seconds == 90 * 60 and opened.resolved_at is None


def test_summary_lists_sessions_in_first_seen_order_and_averages() -> None:
    episodes = (
        ep(None, "user", 500),  # no session: not a session
        ep("b", "user", 400),
        ep("b", "agent", 398),  # 2 min
        ep("a", "user", 300),
        ep("a", "support", 290),  # 10 min: breach
        ep("c", "user", 100),
    )
    resolutions = (
        SupportResolution("a", "resolved", None, NOW - timedelta(minutes=240)),  # 1 h
        SupportResolution("b", "open"),
        SupportResolution("ghost", "open"),  # no episodes: ignored
    )
    sla = compute_sla("subj", SupportData(episodes, resolutions), NOW)
    assert [s.session_id for s in sla.sessions] == ["b", "a", "c"]
    assert [s.status for s in sla.sessions] == ["open", "resolved", "unknown"]
    assert (sla.total_sessions, sla.resolved_sessions, sla.open_sessions) == (3, 1, 1)
    assert sla.avg_first_response_seconds == (120 + 600) / 2
    assert sla.avg_resolution_seconds == 3600
    assert (sla.first_response_breach_count, sla.resolution_breach_count) == (1, 0)


def test_no_sessions_means_no_averages() -> None:
    sla = compute_sla("subj", SupportData((), ()), NOW)
    assert (sla.total_sessions, sla.avg_first_response_seconds, sla.sessions) == (0, None, ())
