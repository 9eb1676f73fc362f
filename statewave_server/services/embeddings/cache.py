"""In-process LRU cache for query embeddings.

The same task or search text is embedded again and again (retries, polling agents, the
context endpoint called per turn); a hit costs microseconds instead of an inference or a
paid API call. Keys are ``(model, text)`` so switching models never serves a stale space.
Only successes are stored: a provider error propagates and the next call tries again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from statewave_server.services.embeddings.base import EmbeddingProvider

DEFAULT_MAX_ENTRIES = 1024
DEFAULT_TTL_SECONDS = 3600.0


class QueryEmbeddingCache:
    """Bounded LRU of query vectors with a time-to-live; safe across threads."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be > 0")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, tuple[float, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, text: str) -> list[float] | None:
        """The cached vector (refreshing its LRU position), or None if absent or expired."""
        key = (model, text)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._clock():
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return list(entry[1])

    def put(self, model: str, text: str, vector: Sequence[float]) -> None:
        """Store ``vector``; evicts the least recently used entry beyond ``max_entries``."""
        key = (model, text)
        with self._lock:
            # Stored as a tuple: callers get fresh lists and cannot mutate the cache.
            self._entries[key] = (self._clock() + self.ttl_seconds, tuple(vector))
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (e.g. after the provider configuration changed)."""
        with self._lock:
            self._entries.clear()


class TextVectorCache:
    """Vectors of texts recently embedded for memories, so a text stored again costs a
    lookup instead of an inference: a fact many customers state ("We're on the Pro
    plan"), a reply like "Thanks!", a fact restated in a later compile.

    A bounded LRU keyed by ``(model, text)``. Vectors are kept as float32, the precision
    memories store them at (the local model computes in float32, so its vectors come back
    unchanged); about 1.6 kB an entry. Used by the compiles of one event loop: no lock.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], npt.NDArray[np.float32]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, text: str) -> list[float] | None:
        """The vector of ``text`` under ``model`` (refreshing its LRU position), or None."""
        key = (model, text)
        vector = self._entries.get(key)
        if vector is None:
            return None
        self._entries.move_to_end(key)
        floats: list[float] = vector.tolist()
        return floats

    def put(self, model: str, text: str, vector: Sequence[float]) -> None:
        """Store ``vector``; evicts the least recently used entry beyond ``max_entries``."""
        key = (model, text)
        self._entries[key] = np.asarray(vector, dtype=np.float32)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class CachedEmbeddingProvider:
    """A provider whose ``embed_query`` goes through a :class:`QueryEmbeddingCache`.

    ``embed_texts`` (memory content, written once) is passed straight through.
    """

    def __init__(self, inner: EmbeddingProvider, cache: QueryEmbeddingCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else QueryEmbeddingCache()

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def semantic(self) -> bool:
        return self.inner.semantic

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """The inner provider's vectors, uncached."""
        return await self.inner.embed_texts(texts)

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    async def embed_query(self, text: str) -> list[float]:
        """Cached vector of ``text``; on a miss the inner provider is asked (errors propagate)."""
        cached = self.cache.get(self.model, text)
        if cached is not None:
            return cached
        vector = await self.inner.embed_query(text)
        self.cache.put(self.model, text, vector)
        return vector
