"""How well a piece of text matches the task: word overlap, breadcrumbs, hybrid fusion.

These are the relevance signals the additive score (``scoring.py``) sums; they are kept
apart because each is a small, separately testable idea.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

from statewave_server.services.context.candidates import MemoryCandidate

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

    A crude lexical signal, used only when a memory has no hybrid (full-text/semantic)
    signal and for raw episodes, which are not indexed for search.
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


def _rank_positions(ordered: Sequence[MemoryCandidate]) -> dict[uuid.UUID, int]:
    return {m.id: position for position, m in enumerate(ordered, start=1)}


def hybrid_relevance(
    memories: Sequence[MemoryCandidate], maximum: float, rrf_k: int
) -> dict[uuid.UUID, float]:
    """Relevance of every memory that has a full-text and/or semantic signal.

    Weighted reciprocal-rank fusion over the candidate pool: each ranking a memory appears
    in contributes ``weight * (k + 1) / (k + rank)``. Full-text results only contain
    matches, so their weight is 1; a nearest-neighbour search returns neighbours however
    far away, so the semantic weight is the similarity itself — a pool of weak neighbours
    must not earn full relevance just for being ranked first. The sum is divided by the
    number of rankings present in the pool and scaled to ``maximum``: agreement of both
    retrievers earns the most, and with one retriever only it reduces to the reference's
    ``similarity * maximum`` (with a gentle rank decay). Ranks are re-derived within the
    pool, so positions from a larger result set may have gaps.
    """
    lexical = sorted((m for m in memories if m.text_rank is not None), key=_text_rank)
    semantic = sorted(
        (m for m in memories if m.semantic_similarity is not None), key=_similarity_desc
    )
    rankings = [r for r in (lexical, semantic) if r]
    if not rankings:
        return {}
    lexical_rank = _rank_positions(lexical)
    semantic_rank = _rank_positions(semantic)
    fused: dict[uuid.UUID, float] = {}
    for memory in memories:
        total = 0.0
        if memory.id in lexical_rank:
            total += (rrf_k + 1) / (rrf_k + lexical_rank[memory.id])
        if memory.id in semantic_rank:
            weight = _clamp_unit(memory.semantic_similarity or 0.0)
            total += weight * (rrf_k + 1) / (rrf_k + semantic_rank[memory.id])
        if memory.id in lexical_rank or memory.id in semantic_rank:
            fused[memory.id] = maximum * total / len(rankings)
    return fused


def _text_rank(memory: MemoryCandidate) -> int:
    return memory.text_rank if memory.text_rank is not None else 0


def _similarity_desc(memory: MemoryCandidate) -> float:
    return -(memory.semantic_similarity or 0.0)


def _clamp_unit(value: float) -> float:
    return max(0.0, min(1.0, value))
