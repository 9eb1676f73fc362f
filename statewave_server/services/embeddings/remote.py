"""Hosted embedding models through LiteLLM (optional extra ``statewave-server[litellm]``).

LiteLLM is imported on first use only, so installs without the extra never pay its import
time, and the import is done with LiteLLM's local model-cost map so that importing it does
not fetch a price list from the internet. Every call carries its own ``api_base``/``api_key``
(no process-global LiteLLM configuration) and a hard asyncio deadline covering the client's
own retries of transient errors, because a hung provider must not hold a request or a
worker indefinitely. (LiteLLM treats ``max_retries=0`` as "use the default", so retries
cannot be switched off per call; the deadline is what bounds them.)
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from statewave_server.services.embeddings.base import EmbeddingError, check_vectors

DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536

_litellm: ModuleType | None = None


class LiteLLMNotInstalled(RuntimeError):
    """The ``litellm`` provider was chosen but the optional dependency is absent."""


def import_litellm() -> ModuleType:
    """The ``litellm`` module, imported once without network access at import time."""
    global _litellm
    if _litellm is None:
        # LiteLLM downloads its model-cost map at import unless told to use the bundled one.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            _litellm = importlib.import_module("litellm")
        except ImportError as exc:
            raise LiteLLMNotInstalled(
                "embedding provider 'litellm' needs the optional dependency: "
                "pip install 'statewave-server[litellm]'"
            ) from exc
    return _litellm


class LiteLLMEmbeddingProvider:
    """Any LiteLLM-supported embedding model (OpenAI, Azure, Ollama, vLLM, …)."""

    semantic = True

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        dimensions: int = DEFAULT_DIMENSIONS,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be >= 1")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self.model = model
        self.dimensions = dimensions
        self._api_base = api_base
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._litellm = import_litellm()  # fail at start-up, not on the first request

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One remote call for all ``texts``; :class:`EmbeddingError` on failure or timeout."""
        if not texts:
            return []
        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": list(texts),
            "dimensions": self.dimensions,
            "timeout": self._timeout,
            "drop_params": True,  # models without a 'dimensions' knob; sizes checked below
            "api_base": self._api_base,
            "api_key": self._api_key,
        }
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._litellm.aembedding(**kwargs)
        except TimeoutError as exc:
            raise EmbeddingError(
                f"embedding call to {self.model} timed out after {self._timeout:g}s"
            ) from exc
        except Exception as exc:  # LiteLLM maps every provider error to its own classes
            raise EmbeddingError(f"embedding call to {self.model} failed: {exc}") from exc
        items = sorted(response.data, key=_index_of)  # servers may answer out of order
        vectors = [_vector_of(item) for item in items]
        return check_vectors(
            vectors, expected_count=len(texts), dimensions=self.dimensions, source=self.model
        )

    async def embed_query(self, text: str) -> list[float]:
        """Vector for one query text."""
        (vector,) = await self.embed_texts([text])
        return vector


def _index_of(item: Any) -> int:
    index = item.get("index", 0) if isinstance(item, dict) else getattr(item, "index", 0)
    return int(index)


def _vector_of(item: Any) -> list[float]:
    """The ``embedding`` of one response item (LiteLLM yields dicts or objects)."""
    embedding = item["embedding"] if isinstance(item, dict) else item.embedding
    return [float(x) for x in embedding]
