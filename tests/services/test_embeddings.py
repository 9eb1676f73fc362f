"""Embedding providers against the real model, a real HTTP server and real pgvector."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.postgres import PgServer
from statewave_server.data import MINILM_TOKENIZER_PATH, MINILM_TOKENIZER_SHA256
from statewave_server.errors import EmbeddingError
from statewave_server.services.embeddings import (
    PROVIDER_NAMES,
    CachedEmbeddingProvider,
    EmbeddingProvider,
    HashEmbeddingProvider,
    LiteLLMEmbeddingProvider,
    LocalMiniLMProvider,
    QueryEmbeddingCache,
    TextVectorCache,
    TokenizerChecksumError,
    build_embedding_provider,
    hash_embedding,
    to_pgvector_literal,
)
from statewave_server.services.embeddings.local import load_tokenizer


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


@pytest.fixture(scope="module")
def minilm() -> Iterator[LocalMiniLMProvider]:
    provider = LocalMiniLMProvider(batch_size=4)  # small batches: several per call below
    provider.load()
    yield provider
    provider.close()


# --- local model -------------------------------------------------------------------------


async def test_local_model_gives_384_dim_unit_vectors(minilm: LocalMiniLMProvider) -> None:
    assert isinstance(minilm, EmbeddingProvider)
    assert (minilm.model, minilm.dimensions, minilm.semantic) == ("all-MiniLM-L6-v2", 384, True)
    vectors = await minilm.embed_texts(["hello", "a much longer sentence about invoices", ""])
    assert [len(v) for v in vectors] == [384, 384, 384]
    for vector in vectors:
        assert _norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert await minilm.embed_texts([]) == []


async def test_paraphrase_without_shared_words_ranks_first(minilm: LocalMiniLMProvider) -> None:
    facts = [
        "My favourite editor is Vim",
        "We are on the enterprise plan",
        "I'm based in Lisbon, Portugal",
        "Our invoices are paid by card",
    ]
    vectors = await minilm.embed_texts(facts)
    cases = {
        "Where does the customer live?": "I'm based in Lisbon, Portugal",
        "What city are they in?": "I'm based in Lisbon, Portugal",
        "Which tool do they write code with?": "My favourite editor is Vim",
        "How do they settle bills?": "Our invoices are paid by card",
    }
    for question, expected in cases.items():
        query = await minilm.embed_query(question)
        scores = [_cosine(query, v) for v in vectors]
        assert facts[scores.index(max(scores))] == expected, (question, scores)


async def test_deterministic_and_batch_independent(minilm: LocalMiniLMProvider) -> None:
    texts = [f"Customer note {i}: " + "renewal discussed " * (i % 5) for i in range(11)]
    batched = await minilm.embed_texts(texts)  # batch_size=4 → three batches, length-sorted
    again = await minilm.embed_texts(texts)
    assert batched == again
    for text, vector in zip(texts, batched, strict=True):
        single = await minilm.embed_query(text)
        assert max(abs(a - b) for a, b in zip(single, vector, strict=True)) < 1e-5
    # The sync path (scripts, worker threads) gives the same vectors.
    assert minilm.embed_sync(texts) == batched


async def test_long_text_is_truncated_to_256_tokens(minilm: LocalMiniLMProvider) -> None:
    long_text = " ".join(f"word{i}" for i in range(400))  # far beyond 256 word pieces
    (head, with_tail) = await minilm.embed_texts([long_text, long_text + " completely different"])
    assert head == with_tail  # the tail lies past the cut
    assert _norm(head) == pytest.approx(1.0, abs=1e-5)


async def test_concurrent_queries_are_serialised_correctly(minilm: LocalMiniLMProvider) -> None:
    texts = [f"question number {i}" for i in range(8)]
    expected = await minilm.embed_texts(texts)
    results = await asyncio.gather(*(minilm.embed_query(t) for t in texts))
    for got, want in zip(results, expected, strict=True):
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5


async def test_a_query_jumps_ahead_of_a_large_call(minilm: LocalMiniLMProvider) -> None:
    """A search waits for the batches already running, not for a compile's whole call."""
    texts = [f"long compile text number {i} about renewals and invoices" for i in range(240)]
    big = asyncio.ensure_future(minilm.embed_texts(texts))  # 60 batches of 4
    await asyncio.sleep(0.05)
    await minilm.embed_query("where does the customer live?")
    assert not big.done()
    assert len(await big) == 240


async def test_calls_finish_in_arrival_order(minilm: LocalMiniLMProvider) -> None:
    """The first of two compiles finishes embedding first, even when the second is
    smaller (shared fairly, the smaller one would finish first)."""
    finished: list[str] = []

    async def embed(name: str, count: int) -> None:
        await minilm.embed_texts([f"{name} text {i} on the enterprise plan" for i in range(count)])
        finished.append(name)

    first = asyncio.ensure_future(embed("first", 120))
    await asyncio.sleep(0)  # queued before the second
    await asyncio.gather(first, embed("second", 40))
    assert finished == ["first", "second"]


async def test_a_cancelled_call_gives_the_model_back(minilm: LocalMiniLMProvider) -> None:
    """A caller that goes away (a client disconnect) leaves its batches unrun."""
    texts = [f"text {i} of a call nobody waits for any more" for i in range(400)]
    began = time.perf_counter()
    await minilm.embed_texts(texts[:100])
    hundred = time.perf_counter() - began
    abandoned = asyncio.ensure_future(minilm.embed_texts(texts))
    await asyncio.sleep(0.02)
    abandoned.cancel()
    began = time.perf_counter()
    after = await minilm.embed_texts([f"next call {i} in the queue" for i in range(100)])
    assert len(after) == 100
    # 300 abandoned texts would take three times as long as the 100 of the next call.
    assert time.perf_counter() - began < 2 * hundred


@pytest.mark.parametrize("delay", [0.0, 0.02])  # while it is tokenized / once it is queued
async def test_close_fails_queued_calls_and_refuses_new_ones(delay: float) -> None:
    provider = LocalMiniLMProvider(batch_size=2)
    provider.load()
    queued = asyncio.ensure_future(provider.embed_texts([f"queued {i}" for i in range(2000)]))
    await asyncio.sleep(delay)
    provider.close()
    with pytest.raises(EmbeddingError, match="closed"):
        await asyncio.wait_for(queued, 30)  # fails, never strands the caller
    with pytest.raises(EmbeddingError, match="closed"):
        await provider.embed_texts(["after close"])


def test_tokenizer_checksum_rejects_a_tampered_file(tmp_path: Path) -> None:
    good = tmp_path / "tokenizer.json"
    shutil.copyfile(MINILM_TOKENIZER_PATH, good)
    assert load_tokenizer(good, MINILM_TOKENIZER_SHA256).get_vocab_size() == 30522

    tampered = tmp_path / "tampered.json"
    data = MINILM_TOKENIZER_PATH.read_bytes().replace(b'"lowercase":true', b'"lowercase":false')
    assert data != MINILM_TOKENIZER_PATH.read_bytes()
    tampered.write_bytes(data)
    with pytest.raises(TokenizerChecksumError, match="sha256"):
        load_tokenizer(tampered, MINILM_TOKENIZER_SHA256)


async def test_provider_refuses_tampered_tokenizer(tmp_path: Path) -> None:
    tampered = tmp_path / "tokenizer.json"
    tampered.write_bytes(MINILM_TOKENIZER_PATH.read_bytes() + b"\n")
    provider = LocalMiniLMProvider(tokenizer_path=tampered)
    try:
        with pytest.raises(TokenizerChecksumError):
            await provider.embed_query("hello")
    finally:
        provider.close()


def test_loads_and_embeds_offline_in_a_fresh_process(minilm: LocalMiniLMProvider) -> None:
    """HF offline flags and dead proxies: nothing may be fetched; same vector as in-process."""
    dead = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "http_proxy": dead,
        "https_proxy": dead,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    code = (
        "import json;"
        "from statewave_server.services.embeddings import LocalMiniLMProvider;"
        "p = LocalMiniLMProvider();"
        "print(json.dumps(p.embed_sync(['I am based in Lisbon'])[0]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    other = json.loads(done.stdout)
    mine = minilm.embed_sync(["I am based in Lisbon"])[0]
    assert max(abs(a - b) for a, b in zip(other, mine, strict=True)) < 1e-6


# --- hash provider ------------------------------------------------------------------------


async def test_hash_provider_is_deterministic_unit_and_distinct() -> None:
    provider = HashEmbeddingProvider(dimensions=1536)
    assert (provider.model, provider.semantic) == ("hash-sha512-1536", False)
    a, b, a_again = await provider.embed_texts(["alpha", "beta", "alpha"])
    assert a == a_again == await provider.embed_query("alpha")
    assert a != b
    assert len(a) == 1536
    assert _norm(a) == pytest.approx(1.0, abs=1e-12)
    assert all(-1.0 <= x <= 1.0 for x in a)


@pytest.mark.parametrize("dimensions", [1, 7, 16, 17, 384])
def test_hash_embedding_any_dimension(dimensions: int) -> None:
    vector = hash_embedding("text", dimensions)
    assert len(vector) == dimensions
    assert _norm(vector) == pytest.approx(1.0, abs=1e-12)


def test_hash_embedding_prefix_comes_from_the_first_digests() -> None:
    # Before normalisation a 16-dim vector is the first digest of a 32-dim one: same direction.
    short, long = hash_embedding("x", 16), hash_embedding("x", 32)
    ratio = short[0] / long[0]
    assert all(s == pytest.approx(ratio * v) for s, v in zip(short, long[:16], strict=True))
    with pytest.raises(ValueError):
        hash_embedding("x", 0)


# --- factory and helpers ------------------------------------------------------------------


def test_factory_builds_each_provider() -> None:
    assert build_embedding_provider("none") is None
    hashed = build_embedding_provider("hash", dimensions=8)
    assert isinstance(hashed, CachedEmbeddingProvider)
    assert (hashed.model, hashed.dimensions) == ("hash-sha512-8", 8)
    assert isinstance(
        build_embedding_provider("hash", query_cache_entries=0), HashEmbeddingProvider
    )
    local = build_embedding_provider("LOCAL", query_cache_entries=0)
    assert isinstance(local, LocalMiniLMProvider)
    local.close()
    remote = build_embedding_provider("litellm", model="openai/x", dimensions=3)
    assert remote is not None and (remote.model, remote.dimensions) == ("openai/x", 3)
    assert set(PROVIDER_NAMES) == {"local", "hash", "litellm", "none"}


def test_factory_rejects_unknown_and_inconsistent_options() -> None:
    with pytest.raises(ValueError, match="local, hash, litellm, none"):
        build_embedding_provider("stub")
    with pytest.raises(ValueError, match="dimensions"):
        build_embedding_provider("local", dimensions=1536)
    with pytest.raises(ValueError, match="model"):
        build_embedding_provider("local", model="text-embedding-3-small")


def test_pgvector_literal_round_trips_through_postgres(pg: PgServer) -> None:
    vector = [0.1, -2.5, 1e-7, 3.0]
    literal = to_pgvector_literal(vector)
    assert literal == "[0.1,-2.5,1e-07,3.0]"
    pg.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    stored = pg.psql_in("postgres", f"SELECT '{literal}'::vector::text;")
    assert [float(x) for x in stored.strip("[]").split(",")] == pytest.approx(vector)
    with pytest.raises(ValueError):
        to_pgvector_literal([float("nan")])


# --- query cache --------------------------------------------------------------------------


@dataclass
class _Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_lru_eviction_and_ttl() -> None:
    clock = _Clock()
    cache = QueryEmbeddingCache(max_entries=2, ttl_seconds=10, clock=clock)
    cache.put("m", "a", [1.0])
    cache.put("m", "b", [2.0])
    assert cache.get("m", "a") == [1.0]  # "a" is now most recent
    cache.put("m", "c", [3.0])  # evicts "b"
    assert cache.get("m", "b") is None
    assert cache.get("other-model", "a") is None  # the model is part of the key
    clock.now += 9.9
    assert cache.get("m", "c") == [3.0]
    clock.now += 0.2
    assert cache.get("m", "c") is None
    assert len(cache) == 1
    returned = cache.get("m", "a") or [0.0]
    returned.append(99.0)  # callers cannot corrupt the cached vector
    assert cache.get("m", "a") is None or cache.get("m", "a") == [1.0]


async def test_cached_provider_serves_hits_without_recomputing() -> None:
    provider = CachedEmbeddingProvider(HashEmbeddingProvider(8), QueryEmbeddingCache())
    first = await provider.embed_query("same question")
    second = await provider.embed_query("same question")
    assert first == second == hash_embedding("same question", 8)
    assert (provider.cache.hits, provider.cache.misses) == (1, 1)
    assert await provider.embed_texts(["x"]) == [hash_embedding("x", 8)]
    assert (provider.model, provider.dimensions, provider.semantic) == ("hash-sha512-8", 8, False)


# --- LiteLLM against a real OpenAI-compatible server on loopback ---------------------------


@dataclass
class _StubState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    delay_seconds: float = 0.0
    wrong_dimensions: bool = False


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    state: _StubState

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = self.state
        state.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        if self.path != "/v1/embeddings" or state.fail_next > 0:
            state.fail_next = max(0, state.fail_next - 1)
            self._reply(500, {"error": {"message": "stub failure", "type": "server_error"}})
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = body.get("dimensions", 4) + (1 if state.wrong_dimensions else 0)
        data = [
            {"object": "embedding", "index": i, "embedding": hash_embedding(text, size)}
            for i, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        self._reply(200, {"object": "list", "data": data[::-1], "model": "stub", "usage": usage})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test): nothing left to answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def openai_stub() -> Iterator[tuple[str, _StubState]]:
    state = _StubState()
    handler = type("Handler", (_EmbeddingsHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


def _litellm(base: str, **kwargs: Any) -> LiteLLMEmbeddingProvider:
    options: dict[str, Any] = {"dimensions": 16, "timeout_seconds": 5.0} | kwargs
    return LiteLLMEmbeddingProvider(
        model="openai/text-embedding-3-small", api_base=base, api_key="sk-test", **options
    )


async def test_litellm_embeds_through_the_server(openai_stub: tuple[str, _StubState]) -> None:
    base, state = openai_stub
    provider = _litellm(base)
    assert provider.semantic is True
    vectors = await provider.embed_texts(["one", "two", "three"])
    assert vectors == [hash_embedding(t, 16) for t in ["one", "two", "three"]]  # index order
    assert await provider.embed_query("one") == vectors[0]
    assert await provider.embed_texts([]) == []
    sent = state.requests[0]
    assert sent["auth"] == "Bearer sk-test"
    assert sent["body"]["input"] == ["one", "two", "three"]
    assert sent["body"]["dimensions"] == 16
    assert len(state.requests) == 2


async def test_litellm_errors_are_raised_and_never_cached(
    openai_stub: tuple[str, _StubState],
) -> None:
    base, state = openai_stub
    provider = CachedEmbeddingProvider(_litellm(base), QueryEmbeddingCache())
    state.fail_next = 100  # more failures than the client's own retries
    with pytest.raises(EmbeddingError, match="openai/text-embedding-3-small"):
        await provider.embed_query("q")
    assert len(provider.cache) == 0
    state.fail_next = 0
    assert await provider.embed_query("q") == hash_embedding("q", 16)
    calls = len(state.requests)
    assert await provider.embed_query("q") == hash_embedding("q", 16)
    assert len(state.requests) == calls  # served from the cache


async def test_litellm_wrong_dimensions_are_rejected(openai_stub: tuple[str, _StubState]) -> None:
    base, state = openai_stub
    state.wrong_dimensions = True
    with pytest.raises(EmbeddingError, match="17-dimensional"):
        await _litellm(base).embed_texts(["x"])


async def test_litellm_call_has_a_hard_timeout(openai_stub: tuple[str, _StubState]) -> None:
    base, state = openai_stub
    state.delay_seconds = 3.0
    provider = _litellm(base, timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(EmbeddingError, match="timed out"):
        await provider.embed_query("slow")
    assert time.monotonic() - started < 2.0


async def test_the_local_models_vectors_come_back_from_the_text_cache_unchanged(
    minilm: LocalMiniLMProvider,
) -> None:
    cache = TextVectorCache(max_entries=4)
    (vector,) = await minilm.embed_texts(["We're on the Pro plan"])
    cache.put(minilm.model, "We're on the Pro plan", vector)
    assert cache.get(minilm.model, "We're on the Pro plan") == vector
