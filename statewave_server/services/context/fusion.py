"""Retrieval relevance for ``POST /v1/context``: BM25 and dense rankings fused by rank.

Pure: the caller brings the BM25 and the cosine rankings (``services/memory_index``);
this module turns them into one relevance per memory in [0, 1].

* Reciprocal-rank fusion of the BM25 and dense rankings: ranks, not raw scores, so two
  retrievers with incomparable scales each get an equal say.
* Speaker/entity matching: a memory whose speaker (``Name: …``) is a person the task names
  gets a bonus — in a two-person conversation every word of a name is common, so neither
  retriever can tell who did what.
* Temporal locality: memories from the same stretch of time (``valid_from``, i.e. the
  episode's ``occurred_at``) as the best hits are lifted — the same conversation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

RRF_K = 10
SPEAKER_BONUS = 0.25
LOCALITY_TOP = 10
LOCALITY_WEIGHT = 0.5
LOCALITY_WINDOW = timedelta(hours=3)

_SPEAKER = re.compile(r"^\s*([A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,3})\s*:")
_CAPITALISED = re.compile(r"\b([A-Z][a-z][\w'’-]*)")


def task_names(task: str) -> frozenset[str]:
    """Capitalised words of the task other than its first (a question word, usually)."""
    words = _CAPITALISED.findall(task)
    first = task.lstrip().split(" ", 1)[0].strip("?,.!:;\"'")
    return frozenset(w.strip("'’").lower() for w in words if w != first)


def speaker(content: str) -> str | None:
    """The ``Name`` of a ``Name: text`` memory, lower-cased; ``None`` without one."""
    match = _SPEAKER.match(content)
    return match.group(1).lower() if match else None


def rrf_scores(rankings: Iterable[Sequence[uuid.UUID]], k: int = RRF_K) -> dict[uuid.UUID, float]:
    """Reciprocal-rank fusion: each id's sum of ``1 / (k + rank)`` over the rankings, in
    first-seen order (so ties keep the order of the first ranking)."""
    scores: dict[uuid.UUID, float] = {}
    for ranking in rankings:
        for position, memory_id in enumerate(ranking, start=1):
            scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (k + position)
    return scores


def fuse(
    task: str,
    lexical: Sequence[uuid.UUID],
    semantic: Sequence[uuid.UUID],
    contents: Mapping[uuid.UUID, str],
    times: Mapping[uuid.UUID, datetime] | None = None,
) -> dict[uuid.UUID, float]:
    """Relevance in [0, 1] of every ranked memory: RRF sum, speaker bonus, normalised,
    then the temporal-locality lift (see ``locality``)."""
    fused = rrf_scores((lexical, semantic))
    if not fused:
        return {}
    names = task_names(task)
    if names:
        unit = 1.0 / (RRF_K + 1)
        for memory_id in fused:
            who = speaker(contents.get(memory_id, ""))
            if who is not None and (who in names or who.split(" ", 1)[0] in names):
                fused[memory_id] += SPEAKER_BONUS * unit
    best = max(fused.values())
    relevance = {memory_id: value / best for memory_id, value in fused.items()}
    if times:
        relevance = locality(relevance, times)
    return relevance


def locality(
    relevance: Mapping[uuid.UUID, float], times: Mapping[uuid.UUID, datetime]
) -> dict[uuid.UUID, float]:
    """Lift memories from the same stretch of time as the best hits, then renormalise.

    What a question is about usually happened in one conversation: a hit's neighbours in
    time share its context even when they share no words with the question. Each memory
    gains ``LOCALITY_WEIGHT`` × the mean relevance of the ``LOCALITY_TOP`` best hits that
    lie within ``LOCALITY_WINDOW`` of it (its own included).
    """
    top = sorted(relevance, key=lambda m: -relevance[m])[:LOCALITY_TOP]
    anchors = [(times[m], relevance[m]) for m in top if m in times]
    if not anchors:
        return dict(relevance)
    lifted = {}
    for memory_id, value in relevance.items():
        when = times.get(memory_id)
        near = 0.0
        if when is not None:
            near = sum(r for t, r in anchors if abs(t - when) <= LOCALITY_WINDOW)
        lifted[memory_id] = value + LOCALITY_WEIGHT * near / LOCALITY_TOP
    best = max(lifted.values())
    return {memory_id: value / best for memory_id, value in lifted.items()}
