"""The embedding provider contract shared by every backend, and vector helpers.

Vectors are stored with the name of the model that made them (``embedding_model``) in a
``vector`` column without a fixed dimension, so several models can coexist while a
deployment migrates; similarity is only ever computed between vectors of one model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from statewave_server.errors import EmbeddingError


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns text into vectors; every provider of one ``model`` yields comparable vectors."""

    @property
    def model(self) -> str:
        """Name stored in ``embedding_model``; vectors of different models never compare."""
        ...

    @property
    def dimensions(self) -> int:
        """Length of every vector this provider returns."""
        ...

    @property
    def semantic(self) -> bool:
        """True when cosine similarity reflects meaning (False for the test hash provider)."""
        ...

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per input text, in input order; ``[]`` for no texts."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector of one search query (same space as :meth:`embed_texts`)."""
        ...

    async def warm_up(self) -> None:
        """Get ready for the first request at startup, where that costs no network."""
        ...


def l2_normalize(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector is returned unchanged)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0:
        return [float(x) for x in vector]
    return [x / norm for x in vector]


def to_pgvector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form ``[x1,x2,…]`` (shortest round-trip floats; rejects NaN/inf).

    Useful for raw SQL (``CAST(:v AS vector)``) and for the text-typed history columns.
    """
    parts = []
    for x in vector:
        value = float(x)
        if not math.isfinite(value):
            raise ValueError("embedding contains a non-finite value")
        parts.append(repr(value))
    return "[" + ",".join(parts) + "]"


def check_vectors(
    vectors: Sequence[Sequence[float]], *, expected_count: int, dimensions: int, source: str
) -> list[list[float]]:
    """The vectors as plain float lists, or :class:`EmbeddingError` if count or size is off.

    Guards the database against a remote model that silently ignores ``dimensions``.
    """
    if len(vectors) != expected_count:
        raise EmbeddingError(
            f"{source} returned {len(vectors)} embeddings for {expected_count} texts"
        )
    result: list[list[float]] = []
    for vector in vectors:
        if len(vector) != dimensions:
            raise EmbeddingError(
                f"{source} returned a {len(vector)}-dimensional embedding; expected {dimensions}"
            )
        result.append([float(x) for x in vector])
    return result
