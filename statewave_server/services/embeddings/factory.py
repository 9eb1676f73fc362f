"""Build the configured embedding provider from explicit options (no settings import).

Taking plain arguments keeps this usable from the server, the worker, the CLI backfill
and tests alike; the caller maps its settings onto them.
"""

from __future__ import annotations

from statewave_server.services.embeddings import local, remote
from statewave_server.services.embeddings.base import EmbeddingProvider
from statewave_server.services.embeddings.cache import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_TTL_SECONDS,
    CachedEmbeddingProvider,
    QueryEmbeddingCache,
)
from statewave_server.services.embeddings.hashing import HashEmbeddingProvider

PROVIDER_NAMES = ("local", "hash", "litellm", "none")
DEFAULT_PROVIDER = "local"
DEFAULT_HASH_DIMENSIONS = 384


def build_embedding_provider(
    provider: str,
    *,
    model: str | None = None,
    dimensions: int | None = None,
    litellm_api_base: str | None = None,
    litellm_api_key: str | None = None,
    timeout_seconds: float = 30.0,
    query_cache_entries: int = DEFAULT_MAX_ENTRIES,
    query_cache_ttl_seconds: float = DEFAULT_TTL_SECONDS,
) -> EmbeddingProvider | None:
    """The provider named ``provider`` wrapped in a query cache, or None for ``"none"``.

    ``model``/``dimensions`` default per provider; the local model is fixed, so giving it a
    different model or size is a configuration error rather than something to ignore.
    ``query_cache_entries=0`` disables the query cache. Unknown names raise ValueError.
    """
    name = provider.strip().lower()
    inner: EmbeddingProvider
    if name == "none":
        return None
    if name == "local":
        _require_fixed("local", "model", model, local.MODEL_NAME)
        _require_fixed("local", "dimensions", dimensions, local.DIMENSIONS)
        inner = local.LocalMiniLMProvider()
    elif name == "hash":
        inner = HashEmbeddingProvider(dimensions or DEFAULT_HASH_DIMENSIONS)
    elif name == "litellm":
        inner = remote.LiteLLMEmbeddingProvider(
            model=model or remote.DEFAULT_MODEL,
            dimensions=dimensions or remote.DEFAULT_DIMENSIONS,
            api_base=litellm_api_base,
            api_key=litellm_api_key,
            timeout_seconds=timeout_seconds,
        )
    else:
        raise ValueError(
            f"unknown embedding provider {provider!r}; choose one of: {', '.join(PROVIDER_NAMES)}"
        )
    if query_cache_entries <= 0:
        return inner
    cache = QueryEmbeddingCache(
        max_entries=query_cache_entries, ttl_seconds=query_cache_ttl_seconds
    )
    return CachedEmbeddingProvider(inner, cache)


def _require_fixed(provider: str, option: str, given: object, fixed: object) -> None:
    if given is not None and given != fixed:
        raise ValueError(f"embedding provider {provider!r} has {option} {fixed!r}; got {given!r}")
