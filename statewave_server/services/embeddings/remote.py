"""Hosted embedding models through LiteLLM (optional extra ``statewave-server[llm]``).

Only ``services/llm.py`` talks to providers, so this provider is a thin wrapper around
``LLMClient.embed_texts``: LiteLLM is imported (without network access) when the provider
is built, every call carries its own ``api_base``/``api_key``, and a hard asyncio deadline
covers the provider SDK's own retries of transient errors, because a hung provider must
not hold a request or a worker indefinitely. Failures surface as ``EmbeddingError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from statewave_server.errors import EmbeddingError
from statewave_server.services.embeddings.base import check_vectors
from statewave_server.services.llm import (
    LLMClient,
    LLMConfig,
    LLMError,
    LLMNotInstalled,
    LLMTimeout,
)

DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536
DEFAULT_MAX_RETRIES = 2

LiteLLMNotInstalled = LLMNotInstalled
"""The ``litellm`` provider was chosen but the optional dependency is absent."""


class LiteLLMEmbeddingProvider:
    """Any LiteLLM-supported embedding model (OpenAI, Azure, Ollama, vLLM, …).

    ``model`` follows LiteLLM's naming; with a custom ``api_base`` a model without a
    provider prefix is sent in the OpenAI format (see ``services/llm.py``).
    """

    semantic = True

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        dimensions: int = DEFAULT_DIMENSIONS,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float = 30.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be >= 1")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self.model = model
        self.dimensions = dimensions
        self._timeout = timeout_seconds
        # Building the client imports LiteLLM: fail at start-up, not on the first request.
        self._client = LLMClient(
            LLMConfig(
                model=model,
                api_base=api_base,
                api_key=api_key,
                timeout_seconds=timeout_seconds,
                max_retries=max_retries,
            )
        )

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One remote call for all ``texts``; :class:`EmbeddingError` on failure or timeout."""
        if not texts:
            return []
        try:
            vectors = await self._client.embed_texts(
                texts, model=self.model, dimensions=self.dimensions
            )
        except LLMTimeout as exc:
            raise EmbeddingError(
                f"embedding call to {self.model} timed out after {self._timeout:g}s"
            ) from exc
        except LLMError as exc:
            raise EmbeddingError(f"embedding call to {self.model} failed: {exc}") from exc
        return check_vectors(
            vectors, expected_count=len(texts), dimensions=self.dimensions, source=self.model
        )

    async def embed_query(self, text: str) -> list[float]:
        """Vector for one query text."""
        (vector,) = await self.embed_texts([text])
        return vector

    async def warm_up(self) -> None:
        """Nothing: a call at startup would cost a billed network round trip."""
