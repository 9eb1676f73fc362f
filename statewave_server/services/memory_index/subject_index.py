"""An immutable in-memory index of one subject's active memories.

Retrieval over a subject is a scan of all its memories (cosine over every vector, BM25
over every lexeme). In PostgreSQL that scan touches one heap page per memory, because a
subject's memories arrive over time between other subjects' (10,000 pages: ~15 ms even
when cached). Held here as a matrix and postings, the same exact scan costs about a
millisecond. Results are memory ids; callers load the rows (and re-check their status).

Columnar on purpose: ids as bytes, texts as str, the rest numpy arrays — nothing the
cyclic garbage collector has to walk (per-memory objects made its full collections,
and so the request that triggered one, tens of milliseconds slower).

A change yields a new index that shares the old one's arrays: changed rows are masked
out and their new versions appended, so applying a compile's few new memories costs
little; once a fifth of the rows are masked, the index is compacted.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from statewave_server.db.index_rows import IndexRow
from statewave_server.services.memory_index import lexicon
from statewave_server.services.memory_index.lexicon import Postings

_VECTOR_HEADER = 4  # pgvector's binary form: uint16 dimensions, uint16 unused, then floats
_SEPARATOR = "\x00"  # never in stored text (PostgreSQL text cannot hold NUL)
COMPACT_WHEN_MASKED = 0.2


@dataclass(frozen=True)
class Hit:
    id: uuid.UUID
    score: float


@dataclass(frozen=True)
class _Columns:
    """Rows as columns; vectors are unit length, zero rows where a memory has none."""

    ids: list[bytes]
    kinds: npt.NDArray[np.str_]
    created: npt.NDArray[np.float64]
    texts: list[str]  # case-folded content, for substring matching
    lengths: npt.NDArray[np.float32]
    vectors: npt.NDArray[np.float32]
    has_vector: npt.NDArray[np.bool_]
    postings: Postings

    @classmethod
    def parse(cls, rows: Sequence[IndexRow], dimensions: int, first_row: int = 0) -> _Columns:
        terms = [lexicon.parse_tsvector(r.lexemes) for r in rows]
        usable = [_floats(r.vector, dimensions) for r in rows]
        has_vector = np.array([v is not None for v in usable], dtype=bool)
        vectors = np.zeros((len(rows), dimensions), dtype=np.float32)
        if dimensions and has_vector.any():
            packed = b"".join(v for v in usable if v is not None)
            block = np.frombuffer(packed, dtype=">f4").reshape(-1, dimensions).astype(np.float32)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            vectors[has_vector] = np.divide(block, norms, where=norms > 0, out=np.zeros_like(block))
            has_vector[has_vector] = norms[:, 0] > 0  # cosine is undefined for a zero vector
        return cls(
            [r.id.bytes for r in rows],
            np.array([r.kind for r in rows], dtype=str),
            np.array([r.created_at.timestamp() for r in rows], dtype=np.float64),
            [r.content.casefold() for r in rows],
            np.array([t.length for t in terms], dtype=np.float32),
            vectors,
            has_vector,
            lexicon.build_postings(terms, first_row),
        )


def _floats(vector: bytes | None, dimensions: int) -> bytes | None:
    """A packed vector's floats, if it has ``dimensions`` of them."""
    if vector is None or len(vector) != _VECTOR_HEADER + 4 * dimensions:
        return None
    return vector[_VECTOR_HEADER:]


def _dimensions(rows: Sequence[IndexRow]) -> int:
    """The width of the rows' vectors (0 if none, or if they disagree)."""
    sizes = {(len(r.vector) - _VECTOR_HEADER) // 4 for r in rows if r.vector}
    return sizes.pop() if len(sizes) == 1 else 0


class SubjectIndex:
    """Vectors as one matrix, lexemes as postings, kinds and times as arrays."""

    def __init__(self, columns: _Columns, alive: npt.NDArray[np.bool_]) -> None:
        self._columns = columns
        self.alive = alive
        self.nbytes = (
            columns.vectors.nbytes
            + lexicon.postings_nbytes(columns.postings)
            + sum(len(t) + 100 for t in columns.texts)
            + columns.kinds.nbytes
        )

    @classmethod
    def from_rows(cls, rows: Sequence[IndexRow]) -> SubjectIndex:
        return cls(_Columns.parse(rows, _dimensions(rows)), np.ones(len(rows), dtype=bool))

    def __len__(self) -> int:
        return int(self.alive.sum())

    @property
    def ids(self) -> set[uuid.UUID]:
        """The ids of the memories indexed."""
        return {uuid.UUID(bytes=self._columns.ids[i]) for i in np.flatnonzero(self.alive)}

    def changed(self, ids: Collection[uuid.UUID], rows: Sequence[IndexRow]) -> SubjectIndex | None:
        """The index after memories ``ids`` changed, ``rows`` being those still active;
        ``None`` when a new vector does not fit the matrix (rebuild from scratch)."""
        old = self._columns
        width = old.vectors.shape[1]
        if any(r.vector is not None and _floats(r.vector, width) is None for r in rows):
            return None
        gone = {i.bytes for i in ids}
        alive = self.alive.copy()
        alive[[i for i, key in enumerate(old.ids) if key in gone]] = False
        new = _Columns.parse(rows, width, first_row=len(old.ids))
        columns = _Columns(
            old.ids + new.ids,
            np.concatenate([old.kinds, new.kinds]),
            np.concatenate([old.created, new.created]),
            old.texts + new.texts,
            np.concatenate([old.lengths, new.lengths]),
            np.concatenate([old.vectors, new.vectors]),
            np.concatenate([old.has_vector, new.has_vector]),
            lexicon.merged(old.postings, new.postings),
        )
        alive = np.concatenate([alive, np.ones(len(rows), dtype=bool)])
        if (~alive).sum() > COMPACT_WHEN_MASKED * len(alive):
            return SubjectIndex(_compacted(columns, alive), np.ones(int(alive.sum()), dtype=bool))
        return SubjectIndex(columns, alive)

    def nearest(self, vector: Sequence[float], *, limit: int, kind: str | None = None) -> list[Hit]:
        """Memories by cosine similarity to ``vector``, best first (score = similarity)."""
        columns = self._columns
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if query.shape != columns.vectors.shape[1:] or norm == 0:
            return []
        rows = np.flatnonzero(self._usable(kind) & columns.has_vector)
        # All rows (cheaper than gathering some); einsum, not BLAS: a BLAS thread pool
        # spinning on two busy cores made this 20x slower.
        similarity = np.einsum("ij,j->i", columns.vectors, query / norm)
        return self._top(rows, similarity[rows], limit)

    def lexical(self, terms: Sequence[str], *, limit: int, kind: str | None = None) -> list[Hit]:
        """Memories holding any of the lexemes ``terms``, best BM25 first."""
        columns = self._columns
        scores = lexicon.bm25(columns.postings, columns.lengths, self.alive, terms)
        rows = np.flatnonzero((scores > 0) & self._usable(kind))
        return self._top(rows, scores[rows], limit)

    def newest(self, kind: str, *, limit: int) -> list[uuid.UUID]:
        """The newest memories of ``kind`` (by creation time), newest first."""
        rows = np.flatnonzero(self._usable(kind))
        order = np.argsort(-self._columns.created[rows], kind="stable")[: max(limit, 0)]
        return [uuid.UUID(bytes=self._columns.ids[rows[i]]) for i in order]

    def containing(
        self, needle: str, *, limit: int, kind: str | None = None, exclude: Collection[uuid.UUID]
    ) -> list[uuid.UUID]:
        """Memories whose content contains ``needle`` (case-insensitive), newest first."""
        folded = needle.casefold()
        if not folded or _SEPARATOR in folded:
            return []
        haystack, starts = self._haystack
        usable = self._usable(kind)
        excluded = {i.bytes for i in exclude}
        rows = []
        at = haystack.find(folded)
        while at >= 0:
            row = bisect.bisect_right(starts, at) - 1
            if usable[row] and self._columns.ids[row] not in excluded:
                rows.append(row)
            at = haystack.find(folded, starts[row + 1]) if row + 1 < len(starts) else -1
        rows.sort(key=lambda i: -self._columns.created[i])
        return [uuid.UUID(bytes=self._columns.ids[i]) for i in rows[: max(limit, 0)]]

    @cached_property
    def _haystack(self) -> tuple[str, list[int]]:
        """All texts in one string (one C-speed ``find`` per match) and where each starts."""
        starts, at = [], 0
        for text in self._columns.texts:
            starts.append(at)
            at += len(text) + 1
        return _SEPARATOR.join(self._columns.texts), starts

    def _usable(self, kind: str | None) -> npt.NDArray[np.bool_]:
        return self.alive if kind is None else self.alive & (self._columns.kinds == kind)

    def _top(
        self, rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], limit: int
    ) -> list[Hit]:
        if limit <= 0 or not len(rows):
            return []
        if len(rows) > limit:
            best = np.argpartition(-scores, limit - 1)[:limit]
            rows, scores = rows[best], scores[best]
        # Best score first; among equals, newest first (as the SQL orderings did).
        order = np.lexsort((-self._columns.created[rows], -scores))
        ids = self._columns.ids
        return [Hit(uuid.UUID(bytes=ids[rows[i]]), float(scores[i])) for i in order]


def _compacted(columns: _Columns, alive: npt.NDArray[np.bool_]) -> _Columns:
    """The columns without their masked rows (postings renumbered)."""
    keep = np.flatnonzero(alive)
    renumbered = np.cumsum(alive, dtype=np.int32) - 1
    postings = {}
    for term, (rows, counts) in columns.postings.items():
        live = alive[rows]
        if live.any():
            postings[term] = (renumbered[rows[live]], counts[live])
    return _Columns(
        [columns.ids[i] for i in keep],
        columns.kinds[keep],
        columns.created[keep],
        [columns.texts[i] for i in keep],
        columns.lengths[keep],
        columns.vectors[keep],
        columns.has_vector[keep],
        postings,
    )
