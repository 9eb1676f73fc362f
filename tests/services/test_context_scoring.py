"""Ranking signals of context assembly: relevance, scores, repeat issues."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from statewave_server.services.context.candidates import (
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
)
from statewave_server.services.context.relevance import (
    breadcrumb_bonus,
    task_tokens,
    word_overlap,
)
from statewave_server.services.context.repeats import keywords, repeat_issue_boosts
from statewave_server.services.context.scoring import (
    DEFAULT_WEIGHTS,
    episode_scores,
    is_urgent,
    memory_scores,
    recency_scores,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NO_SESSIONS = SessionState()


def memory(
    content: str = "unrelated words here",
    kind: str = "profile_fact",
    age_days: float = 1.0,
    **signals: object,
) -> MemoryCandidate:
    created = NOW - timedelta(days=age_days)
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind=kind,
        content=content,
        summary=content,
        created_at=created,
        valid_from=created,
        **signals,  # type: ignore[arg-type]
    )


def episode(
    text: str = "a plain message about nothing in particular",
    session_id: str | None = None,
    source: str = "user",
    type_: str = "message",
    age_minutes: float = 1.0,
) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=uuid.uuid4(),
        source=source,
        type=type_,
        text=text,
        created_at=NOW - timedelta(minutes=age_minutes),
        session_id=session_id,
    )


# --- lexical helpers -------------------------------------------------------------------


def test_word_overlap_is_share_of_task_words_scaled() -> None:
    words = task_tokens("Fix the export job")
    assert word_overlap(words, "the export failed", 5.0) == pytest.approx(2.5)
    assert word_overlap(words, "fix the export job now", 5.0) == pytest.approx(5.0)
    assert word_overlap(words, "", 5.0) == 0.0
    assert word_overlap(frozenset(), "anything", 5.0) == 0.0


def test_breadcrumb_bonus_ignores_stopwords_and_uses_smaller_set() -> None:
    task = "How do I configure webhook retries?"
    assert breadcrumb_bonus(task, "Guide › Webhooks › Retries", 3.0) == pytest.approx(1.5)
    assert breadcrumb_bonus(task, "Webhook > Retries", 3.0) == pytest.approx(3.0)
    assert breadcrumb_bonus(task, "Statewave Documentation Overview", 3.0) == 0.0
    assert breadcrumb_bonus(task, None, 3.0) == 0.0


def test_urgency_is_a_case_insensitive_substring_match() -> None:
    assert is_urgent("Production DOWN since noon")
    assert is_urgent("we need this escalated")
    assert not is_urgent("a quiet afternoon")


def test_recency_normalises_within_the_set() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    scores = recency_scores({a: NOW - timedelta(days=10), b: NOW - timedelta(days=5), c: NOW}, 5)
    assert scores == {a: 0.0, b: pytest.approx(2.5), c: 5.0}
    assert recency_scores({a: NOW}, 5) == {a: 5.0}


def test_without_a_fused_relevance_word_overlap_stands_in() -> None:
    plain = memory("export broken")
    found = memory("export broken", relevance=0.5)
    scores = memory_scores("export broken", [plain, found], NOW)
    assert scores[plain.id] == pytest.approx(10 + 5 + 3 + 5.0)  # kind, recency, valid, overlap
    assert scores[found.id] == pytest.approx(10 + 1 + 3 + 0.5 * 40)  # fused relevance


# --- memory scores ---------------------------------------------------------------------


def test_profile_fact_outranks_summary_at_equal_relevance() -> None:
    fact = memory("billing plan is pro", kind="profile_fact")
    summary = memory("billing plan is pro", kind="episode_summary")
    procedure = memory("billing plan is pro", kind="procedure")
    scores = memory_scores("billing plan", [summary, procedure, fact], NOW)
    assert scores[fact.id] - scores[procedure.id] == pytest.approx(2)
    assert scores[procedure.id] - scores[summary.id] == pytest.approx(3)


def test_relevant_old_memory_outranks_irrelevant_new_one() -> None:
    old = memory("customer prefers invoices by post", age_days=400, relevance=1.0)
    new = memory("likes blue", age_days=0, relevance=0.05)
    scores = memory_scores("how should we send the bill?", [new, old], NOW)
    assert scores[old.id] > scores[new.id]


def test_expired_memory_is_penalised() -> None:
    current = memory("works at Globex")
    expired = memory("works at Globex", valid_to=NOW - timedelta(days=1))
    future_end = memory("works at Globex", valid_to=NOW + timedelta(days=1))
    scores = memory_scores("where does she work", [current, expired, future_end], NOW)
    assert scores[current.id] - scores[expired.id] == pytest.approx(7)
    assert scores[future_end.id] == pytest.approx(scores[current.id])


def test_breadcrumb_adds_to_memory_score() -> None:
    crumb = memory("x", breadcrumb="Webhooks › Retries")
    plain = memory("x")
    scores = memory_scores("webhook retries", [crumb, plain], NOW)
    assert scores[crumb.id] - scores[plain.id] == pytest.approx(1.5)


# --- episode scores --------------------------------------------------------------------


def _single_episode_score(
    ep: EpisodeCandidate,
    sessions: SessionState = NO_SESSIONS,
    current: str | None = None,
    boosts: dict[str, float] | None = None,
) -> float:
    """Score of a lone episode: base 3 + recency 5 (alone in its set) + its boosts."""
    return episode_scores("zzz", [ep], sessions, current, boosts or {})[ep.id]


@pytest.mark.parametrize(
    ("ep", "sessions", "current", "expected"),
    [
        (episode(), SessionState(), None, 8.0),
        (episode(session_id="s1"), SessionState(), "s1", 14.0),
        (episode(session_id="s1"), SessionState(resolved_session_ids=frozenset({"s1"})), None, 3.0),
        (episode(session_id="s1"), SessionState(open_session_ids=frozenset({"s1"})), None, 12.0),
        (episode(source="assistant"), SessionState(), None, 10.0),
        (episode(type_="tool_call"), SessionState(), None, 10.0),
        (episode("the export is urgent, please look"), SessionState(), None, 10.0),
        (episode("ok thanks"), SessionState(), None, 6.0),
        (episode("   "), SessionState(), None, 8.0),
    ],
)
def test_episode_boosts(
    ep: EpisodeCandidate, sessions: SessionState, current: str | None, expected: float
) -> None:
    assert _single_episode_score(ep, sessions, current) == pytest.approx(expected)


def test_episodes_without_session_are_never_session_boosted() -> None:
    ep = episode(session_id=None)
    sessions = SessionState(open_session_ids=frozenset({"s1"}))
    assert _single_episode_score(ep, sessions, current=None) == pytest.approx(8.0)


def test_repeat_boost_is_added_to_the_session_episodes() -> None:
    ep = episode(session_id="old")
    resolved = SessionState(resolved_session_ids=frozenset({"old"}))
    assert _single_episode_score(ep, resolved, boosts={"old": 6.0}) == pytest.approx(9.0)


# --- repeat issues ---------------------------------------------------------------------


def test_keywords_drop_stopwords_and_filler() -> None:
    assert keywords(["Hi, I need help: the CSV export fails again!"]) == {"csv", "export", "fails"}


def test_repeat_issue_detected_for_similar_resolved_session() -> None:
    episodes = [
        episode("CSV export fails with a timeout", session_id="old"),
        episode("Changed my avatar picture", session_id="other"),
    ]
    sessions = SessionState(
        resolved_session_ids=frozenset({"old", "other"}),
        resolution_summaries={"old": "Raised the export worker timeout"},
    )
    boosts = repeat_issue_boosts("The CSV export fails again", episodes, sessions, None)
    assert boosts == {"old": DEFAULT_WEIGHTS.repeat_issue_with_summary}


def test_repeat_issue_without_summary_gets_the_smaller_boost() -> None:
    episodes = [episode("CSV export fails with a timeout", session_id="old")]
    sessions = SessionState(resolved_session_ids=frozenset({"old"}))
    boosts = repeat_issue_boosts("CSV export fails", episodes, sessions, None)
    assert boosts == {"old": DEFAULT_WEIGHTS.repeat_issue}


def test_current_session_texts_count_and_current_session_is_not_its_own_repeat() -> None:
    episodes = [
        episode("the PDF renderer crashes on tables", session_id="now"),
        episode("PDF renderer crash with big tables", session_id="old"),
    ]
    sessions = SessionState(resolved_session_ids=frozenset({"old", "now"}))
    with_session = repeat_issue_boosts("still broken", episodes, sessions, "now")
    without_session = repeat_issue_boosts("still broken", episodes, sessions, None)
    assert with_session == {"old": DEFAULT_WEIGHTS.repeat_issue}
    assert without_session == {}


def test_unresolved_or_unrelated_sessions_get_no_repeat_boost() -> None:
    episodes = [episode("CSV export fails", session_id="open-one")]
    sessions = SessionState(open_session_ids=frozenset({"open-one"}))
    assert repeat_issue_boosts("CSV export fails", episodes, sessions, None) == {}
