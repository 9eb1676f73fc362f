"""The process-wide memory machinery built once from settings: compiler, embedder, events.

Built in the API lifespan and in each worker process; the embedding model is loaded once
and shared by the API and the in-process worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from statewave_server.services.compiler import Compiler, make_compiler
from statewave_server.services.embeddings import (
    EmbeddingProvider,
    TextVectorCache,
    build_embedding_provider,
)
from statewave_server.services.events import EventSink
from statewave_server.services.llm import DEFAULT_API_BASE, LLMClient, LLMConfig
from statewave_server.services.memory_index import MemoryIndexCache
from statewave_server.settings import Settings


@dataclass(frozen=True)
class MemoryRuntime:
    compiler: Compiler
    embedder: EmbeddingProvider | None
    events: EventSink
    memory_index: MemoryIndexCache
    # Vectors of recently stored memory texts (None: every text goes to the embedder).
    text_vectors: TextVectorCache | None = None


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else None


def build_embedder(settings: Settings) -> EmbeddingProvider | None:
    """The embedder per ``STATEWAVE_EMBEDDING_PROVIDER`` (``None`` when it is ``none``).

    The one settings → embedder mapping: the server, the workers and the CLI build it here.
    """
    return build_embedding_provider(
        settings.embedding_provider,
        model=settings.embedding_model,
        dimensions=settings.embedding_dimensions,
        litellm_api_base=settings.litellm_api_base,
        litellm_api_key=_secret(settings.litellm_api_key),
        timeout_seconds=settings.embedding_timeout_seconds,
        query_cache_entries=settings.query_embedding_cache_size,
        query_cache_ttl_seconds=settings.query_embedding_cache_ttl_seconds,
    )


def build_runtime(settings: Settings) -> MemoryRuntime:
    """Compiler per ``STATEWAVE_COMPILER_TYPE``, embedder per ``STATEWAVE_EMBEDDING_PROVIDER``."""
    llm_client = None
    if settings.compiler_type == "llm":
        config = LLMConfig(
            model=settings.litellm_model,
            api_key=_secret(settings.litellm_api_key),
            timeout_seconds=settings.litellm_timeout_seconds,
            max_retries=settings.litellm_max_retries,
            temperature=settings.litellm_temperature,
            api_base=settings.litellm_api_base or DEFAULT_API_BASE,
        )
        llm_client = LLMClient(config)
    return MemoryRuntime(
        compiler=make_compiler(
            settings.compiler_type,
            llm_client=llm_client,
            llm_max_concurrency=settings.llm_max_concurrency,
        ),
        embedder=build_embedder(settings),
        events=EventSink.from_settings(settings),
        memory_index=MemoryIndexCache(
            max_bytes=settings.memory_index_max_mb * 1024 * 1024,
            ttl_seconds=settings.memory_index_ttl_seconds,
        ),
        text_vectors=(
            TextVectorCache(settings.memory_vector_cache_size)
            if settings.memory_vector_cache_size
            else None
        ),
    )
