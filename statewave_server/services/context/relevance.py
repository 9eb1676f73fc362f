"""How well a piece of text matches the task: word overlap and breadcrumbs.

These are the relevance signals the additive score (``scoring.py``) sums besides the
retrieval's fused relevance (``fusion.py``); they are kept apart because each is a small,
separately testable idea.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_EDGE_PUNCTUATION = "?.,:;()[]{}'\""
_BREADCRUMB_SPLIT = re.compile(r"[›>\s]+")
# Words that say nothing about which documentation page a task is about.
# fmt: off
_BREADCRUMB_STOPWORDS = frozenset([
    "statewave", "documentation", "guide", "overview", "the", "a", "an", "of", "for", "to",
    "on", "in", "with", "is", "are", "be", "use", "using", "how", "what", "why", "which",
    "when", "where", "do", "does", "i", "my", "we", "&", ">", "›", "-",
])
# fmt: on


def task_tokens(task: str) -> frozenset[str]:
    """Lower-cased whitespace-split words, punctuation kept (the reference's definition)."""
    return frozenset(task.lower().split())


def word_overlap(task_words: frozenset[str], text: str, maximum: float) -> float:
    """Share of the task's words found in ``text``, scaled to ``maximum``.

    A crude lexical signal, used only when the retrieval found nothing (no fused
    relevance) and for raw episodes, which are not indexed for search.
    """
    words = frozenset(text.lower().split())
    if not task_words or not words:
        return 0.0
    return min(maximum, maximum * len(task_words & words) / len(task_words))


def _crumb_words(words: Iterable[str]) -> frozenset[str]:
    stripped = (w.lower().strip(_EDGE_PUNCTUATION) for w in words)
    return frozenset(w for w in stripped if w and w not in _BREADCRUMB_STOPWORDS)


def breadcrumb_bonus(task: str, breadcrumb: str | None, maximum: float) -> float:
    """Bonus for a memory whose source page's trail names what the task is about.

    Overlap is measured against the smaller of the two word sets, so a short, precise
    trail ("Webhooks > Retries") can earn the full bonus from a long task.
    """
    if not breadcrumb:
        return 0.0
    task_set = _crumb_words(task.split())
    crumb_set = _crumb_words(_BREADCRUMB_SPLIT.split(breadcrumb))
    if not task_set or not crumb_set:
        return 0.0
    overlap = len(task_set & crumb_set)
    return min(maximum, maximum * overlap / min(len(task_set), len(crumb_set)))
