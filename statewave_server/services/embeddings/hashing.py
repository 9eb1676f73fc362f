"""Deterministic, meaningless embeddings for tests (never a production default).

The algorithm is the reference server's stub, generalised to any dimension: SHA-512 over
the text and a 4-byte big-endian counter, each digest read as sixteen big-endian uint32
mapped to [-1, 1], then scaled to unit length. Cheap, stable across processes and
platforms, but cosine similarity between two texts carries no meaning (``semantic`` is
False), so retrieval must not rank by it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from statewave_server.services.embeddings.base import l2_normalize

_UINT32_PER_DIGEST = 16  # 64-byte SHA-512 digest
_HALF_RANGE = 2147483647.5  # maps uint32 [0, 2**32-1] onto [-1, 1]


def hash_embedding(text: str, dimensions: int) -> list[float]:
    """The unit-length hash vector of ``text`` with ``dimensions`` components."""
    if dimensions < 1:
        raise ValueError("dimensions must be >= 1")
    data = text.encode("utf-8")
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha512(data + struct.pack(">I", counter)).digest()
        values.extend(
            r / _HALF_RANGE - 1.0 for r in struct.unpack(f">{_UINT32_PER_DIGEST}I", digest)
        )
        counter += 1
    return l2_normalize(values[:dimensions])


class HashEmbeddingProvider:
    """Test-only provider: same text → same unit vector, different texts → different ones."""

    semantic = False

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be >= 1")
        self.dimensions = dimensions
        # The dimension is part of the name: two sizes are two unrelated vector spaces.
        self.model = f"hash-sha512-{dimensions}"

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Hash vectors of ``texts`` (pure CPU, microseconds each: no thread hop)."""
        return [hash_embedding(text, self.dimensions) for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        """Hash vector of one query."""
        return hash_embedding(text, self.dimensions)

    async def warm_up(self) -> None:
        """Nothing to load."""
