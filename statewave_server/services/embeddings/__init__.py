"""Text embeddings: a small provider contract, the offline default model, and a factory.

``local`` (default) runs all-MiniLM-L6-v2 on the CPU with no network; ``litellm`` reaches
hosted models; ``hash`` is deterministic and meaningless, for tests; ``none`` disables
embeddings. Vectors are stored with the provider's ``model`` name and only compared within
one model.
"""

from statewave_server.services.embeddings.base import (
    EmbeddingProvider,
    l2_normalize,
    to_pgvector_literal,
)
from statewave_server.services.embeddings.cache import (
    CachedEmbeddingProvider,
    QueryEmbeddingCache,
    TextVectorCache,
)
from statewave_server.services.embeddings.factory import (
    DEFAULT_PROVIDER,
    PROVIDER_NAMES,
    build_embedding_provider,
)
from statewave_server.services.embeddings.hashing import HashEmbeddingProvider, hash_embedding
from statewave_server.services.embeddings.local import (
    LocalMiniLMProvider,
    TokenizerChecksumError,
)
from statewave_server.services.embeddings.remote import (
    LiteLLMEmbeddingProvider,
    LiteLLMNotInstalled,
)

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDER_NAMES",
    "CachedEmbeddingProvider",
    "EmbeddingProvider",
    "HashEmbeddingProvider",
    "LiteLLMEmbeddingProvider",
    "LiteLLMNotInstalled",
    "LocalMiniLMProvider",
    "QueryEmbeddingCache",
    "TextVectorCache",
    "TokenizerChecksumError",
    "build_embedding_provider",
    "hash_embedding",
    "l2_normalize",
    "to_pgvector_literal",
]
