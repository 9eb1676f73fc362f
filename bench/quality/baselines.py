"""Naive-RAG baselines over the same turns: BM25, dense MiniLM, their rank fusion, and
history stuffing — each packs whole turns into the same token budget as ``/v1/context``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[a-z0-9]+")
# fmt: off
_STOPWORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "me",
    "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
])
# fmt: on
RRF_K = 60


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stopwords, with a light plural/-ing/-ed suffix strip."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class BM25:
    """Okapi BM25 (k1 = 1.5, b = 0.75) over a fixed list of documents."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        frequency: Counter[str] = Counter()
        for doc in self.docs:
            frequency.update(doc.keys())
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in frequency.items()}

    def scores(self, query: str) -> list[float]:
        words = [w for w in dict.fromkeys(tokenize(query)) if w in self.idf]
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg)
            out.append(
                sum(
                    self.idf[w] * doc[w] * (self.k1 + 1) / (doc[w] + norm)
                    for w in words
                    if w in doc
                )
            )
        return out

    def ranking(self, query: str) -> list[int]:
        scores = self.scores(query)
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def dense_ranking(
    query_vector: npt.NDArray[np.float32], turn_vectors: npt.NDArray[np.float32]
) -> list[int]:
    similarity = turn_vectors @ query_vector
    return [int(i) for i in np.argsort(-similarity, kind="stable")]


def rrf(*rankings: Sequence[int], k: int = RRF_K) -> list[int]:
    """Reciprocal-rank fusion of complete rankings of the same items."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for position, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + position)
    return sorted(fused, key=lambda i: (-fused[i], i))


def pack(
    order: Sequence[int],
    costs: Sequence[int],
    budget: int,
    *,
    stop_at_first_miss: bool = False,
) -> list[int]:
    """Take turns in ``order`` while they fit (skip ones that don't, unless told to stop)."""
    used, taken = 0, []
    for index in order:
        if used + costs[index] <= budget:
            used += costs[index]
            taken.append(index)
        elif stop_at_first_miss:
            break
    return taken
