"""Compiled messages keep their session's signals (resolved sessions never outrank the current)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from statewave_server.services.context import MemoryCandidate, SessionState
from statewave_server.services.context.scoring import memory_scores

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _summary(session_id: str | None, relevance: float | None, age_days: int) -> MemoryCandidate:
    created = NOW - timedelta(days=age_days)
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind="episode_summary",
        content="export",
        summary="export",
        created_at=created,
        valid_from=created,
        relevance=relevance,
        session_id=session_id,
    )


def test_a_resolved_session_never_outranks_the_current_one() -> None:
    state = SessionState(resolved_session_ids=frozenset({"old"}))
    for best, worst in ((1.0, 0.0), (None, None)):
        old = _summary("old", best, age_days=30)
        current = _summary("new", worst, age_days=0)
        scores = memory_scores(
            "export", [old, current], NOW, sessions=state, current_session_id="new"
        )
        assert scores[current.id] > scores[old.id], (best, worst)


def test_an_open_session_lifts_its_memories_as_it_lifts_its_episodes() -> None:
    state = SessionState(open_session_ids=frozenset({"open"}))
    opened, other = _summary("open", 0.5, 1), _summary("other", 0.5, 1)
    scores = memory_scores("export", [opened, other], NOW, sessions=state)
    assert scores[opened.id] > scores[other.id]
