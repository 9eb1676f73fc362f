"""Inverted index over PostgreSQL's stored lexemes, scored with BM25.

Okapi BM25 (k1 = 1.2, b = 0.75): unlike ``ts_rank_cd`` it knows that a rare word
("sunrise") says more than a common one. Document frequencies and the average length are
taken over the subject's memories held by the index (exact right after a build).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BM25_K1 = 1.2
BM25_B = 0.75

Postings = dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]]

# One lexeme of a tsvector's text form: 'word':1,4B,9 (positions, optional weights).
_ENTRY = re.compile(r"'((?:[^']|'')+)'(?::([0-9A-D,]+))?")


@dataclass(frozen=True)
class Terms:
    """One document's lexeme frequencies and its length in positions."""

    counts: dict[str, int]
    length: int


def parse_tsvector(text: str) -> Terms:
    """A tsvector's text form (``'paint':3,7 'sunris':5``) as lexeme frequencies."""
    counts: dict[str, int] = {}
    for token in text.split(" "):
        lexeme, colon, positions = token.rpartition(":")
        if not colon or len(lexeme) < 3 or lexeme[0] != "'" or lexeme[-1] != "'" or "''" in lexeme:
            return _parse_slowly(text)  # quotes or spaces inside a lexeme: parse properly
        counts[lexeme[1:-1]] = positions.count(",") + 1
    return Terms(counts, sum(counts.values()))


def _parse_slowly(text: str) -> Terms:
    counts = {}
    for match in _ENTRY.finditer(text):
        positions = match.group(2)
        counts[match.group(1).replace("''", "'")] = positions.count(",") + 1 if positions else 1
    return Terms(counts, sum(counts.values()))


def build_postings(documents: Sequence[Terms], first_row: int = 0) -> Postings:
    """Rows (numbered from ``first_row``) and frequencies of each lexeme."""
    rows: dict[str, list[int]] = {}
    frequencies: dict[str, list[int]] = {}
    for row, document in enumerate(documents, start=first_row):
        for term, count in document.counts.items():
            rows.setdefault(term, []).append(row)
            frequencies.setdefault(term, []).append(count)
    return {
        term: (np.array(rows[term], dtype=np.int32), np.array(counts, dtype=np.float32))
        for term, counts in frequencies.items()
    }


def merged(postings: Postings, more: Postings) -> Postings:
    """``postings`` with ``more`` appended (rows of ``more`` come after all others)."""
    result = dict(postings)
    for term, (rows, counts) in more.items():
        if term in result:
            old_rows, old_counts = result[term]
            result[term] = (np.concatenate([old_rows, rows]), np.concatenate([old_counts, counts]))
        else:
            result[term] = (rows, counts)
    return result


def postings_nbytes(postings: Postings) -> int:
    return sum(r.nbytes + f.nbytes + 120 + len(t) for t, (r, f) in postings.items())


def bm25(
    postings: Postings,
    lengths: npt.NDArray[np.float32],
    alive: npt.NDArray[np.bool_],
    terms: Sequence[str],
) -> npt.NDArray[np.float32]:
    """Every document's BM25 score for the query ``terms`` (0 where none occurs or the
    document is no longer ``alive``)."""
    scores = np.zeros(len(lengths), dtype=np.float32)
    total = int(alive.sum())
    if total == 0:
        return scores
    average = float(lengths[alive].mean()) or 1.0
    for term in dict.fromkeys(terms):
        posting = postings.get(term)
        if posting is None:
            continue
        rows, counts = posting
        frequency = min(len(rows), total)
        idf = math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[rows] / average)
        scores[rows] += idf * counts * (BM25_K1 + 1) / (counts + norm)
    scores[~alive] = 0
    return scores
