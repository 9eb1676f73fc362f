"""The additive ranking score of memories and raw episodes.

Each item's score is a plain sum of signals (kind priority, recency, relevance, temporal
validity, session boosts…). The constants are the reference server's, kept as data in
:class:`ScoringWeights` so a test or an experiment can change them without touching code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from statewave_server.services.context.candidates import (
    EPISODE_SUMMARY,
    PROCEDURE,
    PROFILE_FACT,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
)
from statewave_server.services.context.relevance import (
    breadcrumb_bonus,
    task_tokens,
    word_overlap,
)


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """Every constant of the ranking, with the reference server's values as defaults."""

    profile_fact_priority: float = 10.0
    procedure_priority: float = 8.0
    summary_priority: float = 5.0
    other_kind_priority: float = 1.0
    episode_base: float = 3.0
    relevant_turn_base: float = 8.0
    recency_max: float = 5.0
    overlap_max: float = 5.0
    relevance_max: float = 40.0
    recency_with_relevance: float = 1.0
    temporal_valid: float = 3.0
    temporal_expired: float = -4.0
    breadcrumb_max: float = 3.0
    current_session: float = 6.0
    resolved_session: float = -5.0
    repeat_issue: float = 4.0
    repeat_issue_with_summary: float = 6.0
    repeat_issue_threshold: float = 0.3
    open_session: float = 4.0
    action_step: float = 2.0
    urgency: float = 2.0
    idle_chatter: float = -2.0
    idle_chatter_chars: int = 20


DEFAULT_WEIGHTS = ScoringWeights()

_ACTION_SOURCES = frozenset({"assistant", "agent", "tool", "system"})
_ACTION_TYPES = frozenset({"action", "tool_call", "resolution_attempt"})
# Substrings, as in the reference: "p1" also matches "api1"; kept for compatibility.
_URGENCY_MARKERS = (
    "urgent",
    "critical",
    "blocked",
    "deadline",
    "asap",
    "emergency",
    "breaking",
    "outage",
    "downtime",
    "compliance",
    "sla",
    "escalat",
    "immediately",
    "production down",
    "p0",
    "p1",
    "severity",
)


def kind_priority(kind: str, weights: ScoringWeights = DEFAULT_WEIGHTS) -> float:
    """Standing facts about the user matter most, then how-tos, then what happened."""
    return {
        PROFILE_FACT: weights.profile_fact_priority,
        PROCEDURE: weights.procedure_priority,
        EPISODE_SUMMARY: weights.summary_priority,
    }.get(kind, weights.other_kind_priority)


def recency_scores(stamps: Mapping[uuid.UUID, datetime], maximum: float) -> dict[uuid.UUID, float]:
    """Min-max normalise timestamps within one candidate set: newest gets ``maximum``.

    Normalising per set (memories apart from episodes) makes recency relative — what
    counts is being newer than the alternatives, not absolute age. All-equal stamps
    (including a single item) all get ``maximum``.
    """
    if not stamps:
        return {}
    seconds = {key: stamp.timestamp() for key, stamp in stamps.items()}
    low, high = min(seconds.values()), max(seconds.values())
    if high == low:
        return dict.fromkeys(seconds, maximum)
    return {key: maximum * (value - low) / (high - low) for key, value in seconds.items()}


def temporal_score(valid_to: datetime | None, now: datetime, weights: ScoringWeights) -> float:
    """Reward memories still in force; penalise ones whose validity window has closed."""
    if valid_to is None or valid_to > now:
        return weights.temporal_valid
    return weights.temporal_expired


def is_urgent(text: str) -> bool:
    """Whether the text carries an urgency marker (case-insensitive substring match)."""
    lowered = text.lower()
    return any(marker in lowered for marker in _URGENCY_MARKERS)


def is_action_step(episode: EpisodeCandidate) -> bool:
    """Whether the episode records something done (by an agent/tool) rather than said."""
    return episode.source.lower() in _ACTION_SOURCES or episode.type.lower() in _ACTION_TYPES


def is_idle_chatter(text: str, weights: ScoringWeights) -> bool:
    """Short non-empty texts ("ok", "thanks!") rarely help the next turn."""
    stripped = text.strip()
    return 0 < len(stripped) < weights.idle_chatter_chars


def memory_scores(
    task: str,
    memories: Sequence[MemoryCandidate],
    now: datetime,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    sessions: SessionState | None = None,
    current_session_id: str | None = None,
) -> dict[uuid.UUID, float]:
    """Score = kind priority + recency + relevance + temporal validity + breadcrumb bonus
    + the session signals of the memory's session (as for its raw episodes).

    Relevance is the retrieval's fused ``relevance`` when the caller set one (scaled to
    ``relevance_max``, with recency shrunk to ``recency_with_relevance`` so it only breaks
    near-ties, and the session signals grown in proportion, so an older resolved
    session's messages still never outrank the current session's once compiled); else
    (the search found nothing at all) the word overlap of its content with the task.
    """
    words = task_tokens(task)
    recency = recency_scores({m.id: m.created_at for m in memories}, weights.recency_max)
    scores: dict[uuid.UUID, float] = {}
    state = sessions or SessionState()
    for memory in memories:
        fresh = recency[memory.id]
        session = _session_signal(memory.session_id, state, current_session_id, weights)
        if memory.relevance is not None:
            relevance = weights.relevance_max * memory.relevance
            fresh *= weights.recency_with_relevance / weights.recency_max
            session *= weights.relevance_max / weights.overlap_max
        else:
            relevance = word_overlap(words, memory.content, weights.overlap_max)
        scores[memory.id] = (
            kind_priority(memory.kind, weights)
            + fresh
            + relevance
            + temporal_score(memory.valid_to, now, weights)
            + breadcrumb_bonus(task, memory.breadcrumb, weights.breadcrumb_max)
            + session
        )
    return scores


def episode_scores(
    task: str,
    episodes: Sequence[EpisodeCandidate],
    sessions: SessionState,
    current_session_id: str | None,
    repeat_boosts: Mapping[str, float],
    weights: ScoringWeights = DEFAULT_WEIGHTS,
) -> dict[uuid.UUID, float]:
    """Score raw episodes: base + recency + overlap + session, action and urgency signals.

    Session signals put the conversation in progress first, push already-resolved
    sessions down (unless they look like the same problem coming back: ``repeat_boosts``)
    and lift sessions still open.
    """
    words = task_tokens(task)
    recency = recency_scores({e.id: e.created_at for e in episodes}, weights.recency_max)
    scores: dict[uuid.UUID, float] = {}
    for episode in episodes:
        if episode.relevance is not None:
            # A turn the search led to stands in for its summary: it starts where a
            # valid summary does (kind priority + temporal validity), not below it.
            base = weights.relevant_turn_base if episode.relevance > 0 else weights.episode_base
            score = base + weights.relevance_max * episode.relevance
            score += recency[episode.id] * weights.recency_with_relevance / weights.recency_max
        else:
            score = weights.episode_base + recency[episode.id]
            score += word_overlap(words, episode.text, weights.overlap_max)
        score += _session_signal(episode.session_id, sessions, current_session_id, weights)
        if episode.session_id is not None:
            score += repeat_boosts.get(episode.session_id, 0.0)
        if is_action_step(episode):
            score += weights.action_step
        if is_urgent(episode.text):
            score += weights.urgency
        if is_idle_chatter(episode.text, weights):
            score += weights.idle_chatter
        scores[episode.id] = score
    return scores


def _session_signal(
    session_id: str | None,
    sessions: SessionState,
    current_session_id: str | None,
    weights: ScoringWeights,
) -> float:
    if session_id is None:
        return 0.0
    signal = 0.0
    if session_id == current_session_id:
        signal += weights.current_session
    if session_id in sessions.resolved_session_ids:
        signal += weights.resolved_session
    if session_id in sessions.open_session_ids:
        signal += weights.open_session
    return signal
