"""Repeat-issue detection: has the user come back with a problem a past session solved?

When the task (and the conversation in progress) talks about the same things as a
resolved session, that session's episodes are worth showing again — how it was fixed last
time is the most useful context — so they get a boost on top of the resolved penalty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from statewave_server.services.context.candidates import EpisodeCandidate, SessionState
from statewave_server.services.context.scoring import DEFAULT_WEIGHTS, ScoringWeights

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Function words, greetings and conversational filler: shared by any two conversations,
# so they would make every session look like a repeat.
# fmt: off
_STOPWORDS = frozenset([
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "but", "by", "can", "could", "did",
    "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he", "her", "here",
    "hi", "hello", "hey", "him", "his", "how", "i", "if", "i'm", "in", "into", "is", "it",
    "it's", "its", "just", "let", "me", "my", "no", "not", "of", "ok", "okay", "on", "or",
    "our", "please", "she", "so", "some", "sure", "than", "thank", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "up",
    "us", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "why", "will", "with", "would", "yes", "you", "your", "help", "need", "needs", "want",
    "wants", "know", "think", "get", "got", "going",
])
# fmt: on


def keywords(texts: Iterable[str]) -> frozenset[str]:
    """Content words of the texts: lower-cased, stopwords and single letters removed."""
    words: set[str] = set()
    for text in texts:
        words.update(_WORD.findall(text.lower()))
    return frozenset(w for w in words if len(w) > 1 and w not in _STOPWORDS)


def repeat_issue_boosts(
    task: str,
    episodes: Sequence[EpisodeCandidate],
    sessions: SessionState,
    current_session_id: str | None,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
) -> dict[str, float]:
    """Boost per resolved session whose keywords cover enough of the current issue's.

    The current issue = the task plus the current session's episodes. Overlap is the share
    of the current keywords found in the prior session's episodes and resolution summary;
    a session with a recorded resolution summary gets the larger boost because it says how
    the problem was solved. The current session is never a repeat of itself.
    """
    current_texts = [task]
    if current_session_id is not None:
        current_texts += [e.text for e in episodes if e.session_id == current_session_id]
    current = keywords(current_texts)
    if not current:
        return {}
    boosts: dict[str, float] = {}
    for session_id in _resolved_sessions_present(episodes, sessions, current_session_id):
        summary = sessions.resolution_summaries.get(session_id, "")
        prior_texts = [e.text for e in episodes if e.session_id == session_id] + [summary]
        overlap = len(current & keywords(prior_texts)) / len(current)
        if overlap >= weights.repeat_issue_threshold:
            has_summary = bool(summary.strip())
            boosts[session_id] = (
                weights.repeat_issue_with_summary if has_summary else weights.repeat_issue
            )
    return boosts


def _resolved_sessions_present(
    episodes: Sequence[EpisodeCandidate], sessions: SessionState, current_session_id: str | None
) -> list[str]:
    seen: dict[str, None] = {}
    for episode in episodes:
        sid = episode.session_id
        if sid is not None and sid != current_session_id and sid in sessions.resolved_session_ids:
            seen.setdefault(sid)
    return list(seen)
