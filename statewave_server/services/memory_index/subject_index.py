"""An immutable in-memory index of one subject's active memories.

Retrieval over a subject is a scan of all its memories (cosine over every vector, BM25
over every lexeme). In PostgreSQL that scan touches one heap page per memory, because a
subject's memories arrive over time between other subjects' (10,000 pages: ~15 ms even
when cached). Held here as a matrix and postings, the same exact scan costs about a
millisecond. Results are memory ids; callers load the rows (and re-check their status).

A change yields a new index that shares the old one's arrays: changed rows are masked
out and their new versions appended, so applying a compile's few new memories costs
little; once a fifth of the rows are masked, the index is rebuilt compactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from statewave_server.db.index_rows import IndexRow
from statewave_server.services.memory_index import lexicon
from statewave_server.services.memory_index.lexicon import Postings, Terms

_VECTOR_HEADER = 4  # pgvector's binary form: uint16 dimensions, uint16 unused, then floats
COMPACT_WHEN_MASKED = 0.2


@dataclass(frozen=True)
class Entry:
    """One memory as the index keeps it (parsed once, reused when the index changes)."""

    id: uuid.UUID
    kind: str
    created: float
    text: str  # case-folded content, for substring matching
    terms: Terms


@dataclass(frozen=True)
class Hit:
    id: uuid.UUID
    score: float


@dataclass(frozen=True)
class _Rows:
    """Parsed rows: entries plus their unit vectors (zero rows where none)."""

    entries: list[Entry]
    vectors: npt.NDArray[np.float32]
    has_vector: npt.NDArray[np.bool_]

    @classmethod
    def parse(cls, rows: Sequence[IndexRow], dimensions: int | None) -> _Rows:
        entries = [
            Entry(
                r.id,
                r.kind,
                r.created_at.timestamp(),
                r.content.casefold(),
                lexicon.parse_tsvector(r.lexemes),
            )
            for r in rows
        ]
        if dimensions is None:
            sizes = {(len(r.vector) - _VECTOR_HEADER) // 4 for r in rows if r.vector}
            dimensions = sizes.pop() if len(sizes) == 1 else 0
        width = dimensions * 4 + _VECTOR_HEADER
        usable = [
            r.vector[_VECTOR_HEADER:] if r.vector and len(r.vector) == width else None for r in rows
        ]
        has_vector = np.array([v is not None for v in usable], dtype=bool)
        vectors = np.zeros((len(rows), dimensions), dtype=np.float32)
        if dimensions and has_vector.any():
            packed = b"".join(v for v in usable if v is not None)
            block = np.frombuffer(packed, dtype=">f4").reshape(-1, dimensions).astype(np.float32)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            vectors[has_vector] = np.divide(block, norms, where=norms > 0, out=np.zeros_like(block))
            has_vector[has_vector] = norms[:, 0] > 0  # cosine is undefined for a zero vector
        return cls(entries, vectors, has_vector)


class SubjectIndex:
    """Vectors as one matrix, lexemes as postings, kinds and times as arrays."""

    def __init__(
        self,
        entries: list[Entry],
        vectors: npt.NDArray[np.float32],
        has_vector: npt.NDArray[np.bool_],
        alive: npt.NDArray[np.bool_],
        postings: Postings,
    ) -> None:
        self.entries = entries
        self.vectors = vectors
        self.has_vector = has_vector
        self.alive = alive
        self.postings = postings
        self.ids = [e.id for e in entries]
        self.position = {e.id: i for i, e in enumerate(entries) if alive[i]}
        self.kinds = np.array([e.kind for e in entries], dtype=object)
        self.created = np.array([e.created for e in entries], dtype=np.float64)
        self.lengths = np.array([e.terms.length for e in entries], dtype=np.float32)
        self.nbytes = (
            vectors.nbytes
            + lexicon.postings_nbytes(postings)
            + sum(len(e.text) + 300 for e in entries)
        )

    @classmethod
    def from_rows(cls, rows: Sequence[IndexRow]) -> SubjectIndex:
        parsed = _Rows.parse(rows, None)
        return cls._of(parsed.entries, parsed.vectors, parsed.has_vector)

    @classmethod
    def _of(
        cls,
        entries: list[Entry],
        vectors: npt.NDArray[np.float32],
        has_vector: npt.NDArray[np.bool_],
    ) -> SubjectIndex:
        alive = np.ones(len(entries), dtype=bool)
        postings = lexicon.build_postings([e.terms for e in entries])
        return cls(entries, vectors, has_vector, alive, postings)

    def __len__(self) -> int:
        return len(self.position)

    def changed(self, ids: Collection[uuid.UUID], rows: Sequence[IndexRow]) -> SubjectIndex | None:
        """The index after memories ``ids`` changed, ``rows`` being those still active;
        ``None`` when a new vector does not fit the matrix (rebuild from scratch)."""
        width = self.vectors.shape[1]
        if any(r.vector is not None and len(r.vector) != width * 4 + _VECTOR_HEADER for r in rows):
            return None
        alive = self.alive.copy()
        alive[[self.position[i] for i in ids if i in self.position]] = False
        new = _Rows.parse(rows, width)
        entries = self.entries + new.entries
        vectors = np.concatenate([self.vectors, new.vectors])
        has_vector = np.concatenate([self.has_vector, new.has_vector])
        alive = np.concatenate([alive, np.ones(len(new.entries), dtype=bool)])
        if (~alive).sum() > COMPACT_WHEN_MASKED * len(alive):
            keep = np.flatnonzero(alive)
            return self._of([entries[i] for i in keep], vectors[keep], has_vector[keep])
        more = lexicon.build_postings([e.terms for e in new.entries], first_row=len(self.entries))
        postings = lexicon.merged(self.postings, more)
        return SubjectIndex(entries, vectors, has_vector, alive, postings)

    def nearest(self, vector: Sequence[float], *, limit: int, kind: str | None = None) -> list[Hit]:
        """Memories by cosine similarity to ``vector``, best first (score = similarity)."""
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if query.shape != self.vectors.shape[1:] or norm == 0:
            return []
        usable = self.alive & self.has_vector
        if kind is not None:
            usable &= self.kinds == kind
        rows = np.flatnonzero(usable)
        # All rows (cheaper than gathering some); einsum, not BLAS: a BLAS thread pool
        # spinning on two busy cores made this 20x slower.
        similarity = np.einsum("ij,j->i", self.vectors, query / norm)
        return self._top(rows, similarity[rows], limit)

    def lexical(self, terms: Sequence[str], *, limit: int, kind: str | None = None) -> list[Hit]:
        """Memories holding any of the lexemes ``terms``, best BM25 first."""
        scores = lexicon.bm25(self.postings, self.lengths, self.alive, terms)
        matched = scores > 0
        if kind is not None:
            matched &= self.kinds == kind
        rows = np.flatnonzero(matched)
        return self._top(rows, scores[rows], limit)

    def containing(
        self, needle: str, *, limit: int, kind: str | None = None, exclude: Collection[uuid.UUID]
    ) -> list[uuid.UUID]:
        """Memories whose content contains ``needle`` (case-insensitive), newest first."""
        folded, excluded = needle.casefold(), set(exclude)
        rows = [
            i
            for i, e in enumerate(self.entries)
            if folded in e.text
            and self.alive[i]
            and (kind is None or e.kind == kind)
            and e.id not in excluded
        ]
        rows.sort(key=lambda i: -self.created[i])
        return [self.ids[i] for i in rows[: max(limit, 0)]]

    def _top(
        self, rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], limit: int
    ) -> list[Hit]:
        if limit <= 0 or not len(rows):
            return []
        if len(rows) > limit:
            best = np.argpartition(-scores, limit - 1)[:limit]
            rows, scores = rows[best], scores[best]
        # Best score first; among equals, newest first (as the SQL orderings did).
        order = np.lexsort((-self.created[rows], -scores))
        return [Hit(self.ids[rows[i]], float(scores[i])) for i in order]
