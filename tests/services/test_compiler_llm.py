"""The LLM adapter and compiler against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.openai_server import (
    OpenAITestServer,
    RecordedRequest,
    Reply,
    running_openai_server,
)
from statewave_server.services.compiler import EpisodeInput, LLMCompiler, make_compiler
from statewave_server.services.compiler.llm import make_batches
from statewave_server.services.llm import (
    LLMClient,
    LLMConfig,
    LLMProviderError,
    LLMResponseError,
    LLMTimeout,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with running_openai_server() as srv:
        yield srv


def client_for(server: OpenAITestServer, **overrides: Any) -> LLMClient:
    config: dict[str, Any] = {
        "model": "gpt-test",
        "api_base": server.base_url,
        "api_key": "sk-test",
        "timeout_seconds": 5.0,
        "max_retries": 0,
        "retry_backoff_seconds": 0.01,
    }
    config.update(overrides)
    return LLMClient(LLMConfig(**config))


def episode(text: str, minutes: int = 0) -> EpisodeInput:
    return EpisodeInput(
        id=uuid.uuid4(), payload={"text": text}, created_at=T0 + timedelta(minutes=minutes)
    )


def memories(*items: Any) -> Reply:
    return Reply.chat_json({"memories": list(items)})


async def test_good_reply_maps_memories_to_their_episodes(server: OpenAITestServer) -> None:
    first, second = episode("I work at Globex."), episode("How to reset: click A, then B.", 1)
    server.enqueue(
        memories(
            {
                "kind": "profile_fact",
                "content": "Works at Globex",
                "confidence": 0.9,
                "episode_index": 0,
                "summary": "Employer",
            },
            {"kind": "procedure", "content": ["Click A", "Click B"], "episode_index": 1},
        )
    )

    result = await LLMCompiler(client_for(server)).compile([first, second])

    assert result.failed_episode_ids == ()
    fact, procedure = result.drafts
    assert (fact.kind, fact.content, fact.summary, fact.confidence) == (
        "profile_fact",
        "Works at Globex",
        "Employer",
        0.9,
    )
    assert fact.source_episode_ids == (first.id,)
    assert fact.valid_from == first.created_at
    assert fact.metadata == {"compiler": "llm", "model": "gpt-test"}
    assert procedure.content == "Click A\nClick B"
    assert procedure.summary == "Click A\nClick B"
    assert procedure.confidence == 0.7
    assert procedure.source_episode_ids == (second.id,)


async def test_request_carries_model_json_mode_prompt_and_key(server: OpenAITestServer) -> None:
    server.enqueue(memories())
    episodes = [episode("alpha"), episode("beta")]

    await LLMCompiler(client_for(server, model="openai/gpt-test")).compile(episodes)

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "gpt-test"
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["temperature"] == 0.1
    assert request.body["max_tokens"] == 1000
    system, user = request.body["messages"]
    assert system["role"] == "system" and "profile_fact" in system["content"]
    assert user["content"].startswith("Extract memories from these 2 episode(s)")
    assert user["content"].endswith("--- Episode 0 ---\nalpha\n\n--- Episode 1 ---\nbeta")


def batch_marker_responder(bad_marker: str) -> Any:
    def respond(request: RecordedRequest) -> Reply:
        if bad_marker in request.user_content:
            return Reply.chat('{"memories": [ {"kind": "profile_fact", "content": ')
        return memories({"kind": "episode_summary", "content": request.user_content[-12:]})

    return respond


async def test_malformed_json_fails_only_that_batch(server: OpenAITestServer) -> None:
    good = episode("good " * 1000)  # 5000 chars: alone in its batch
    bad = episode("BAD " * 1000, 1)
    also_good = episode("fine " * 1000, 2)
    server.responder = batch_marker_responder("BAD")

    result = await LLMCompiler(client_for(server)).compile([good, bad, also_good])

    assert len(server.requests) == 3
    assert result.failed_episode_ids == (bad.id,)
    assert sorted(d.source_episode_ids[0] for d in result.drafts) == sorted([good.id, also_good.id])


async def test_timeout_reports_the_batch_as_failed(server: OpenAITestServer) -> None:
    server.enqueue(Reply.chat_json({"memories": []}, delay=3.0))
    episodes = [episode("slow one"), episode("slow two")]
    started = time.monotonic()

    result = await LLMCompiler(client_for(server, timeout_seconds=0.3)).compile(episodes)

    assert time.monotonic() - started < 2.0
    assert result.drafts == ()
    assert result.failed_episode_ids == tuple(e.id for e in episodes)


async def test_client_timeout_is_hard_even_with_retries(server: OpenAITestServer) -> None:
    server.enqueue(Reply.error(503), Reply.error(503), Reply.chat("late", delay=3.0))
    client = client_for(server, max_retries=5, timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        await client.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 2.0


async def test_server_errors_are_retried_then_reported(server: OpenAITestServer) -> None:
    server.enqueue(Reply.error(500), memories({"kind": "procedure", "content": "x"}))
    ep = episode("retry me")
    result = await LLMCompiler(client_for(server, max_retries=1)).compile([ep])
    assert [d.content for d in result.drafts] == ["x"]
    assert len(server.requests) == 2

    server.enqueue(Reply.error(500, "down"), Reply.error(500, "still down"))
    result = await LLMCompiler(client_for(server, max_retries=1)).compile([ep])
    assert result.failed_episode_ids == (ep.id,)

    server.enqueue(Reply.error(401, "bad key"))
    with pytest.raises(LLMProviderError, match=r"HTTP 401: .*bad key"):
        await client_for(server, max_retries=3).complete([{"role": "user", "content": "x"}])


async def test_bad_items_are_skipped_and_bad_confidence_defaulted(
    server: OpenAITestServer,
) -> None:
    eps = [episode("one"), episode("two", 1)]
    server.enqueue(
        memories(
            {"kind": "profile_fact", "content": "A", "confidence": "very high", "episode_index": 0},
            {"kind": "profile_fact", "content": "B", "confidence": 7, "episode_index": "1"},
            {"kind": "weird", "content": "C", "confidence": None, "episode_index": 1},
            {"kind": "profile_fact", "content": "D", "confidence": True, "episode_index": 0},
            {"kind": "profile_fact", "content": "   ", "episode_index": 0},
            {"kind": "profile_fact", "content": "no index"},
            {"kind": "profile_fact", "content": "out of range", "episode_index": 9},
            "not an object",
        )
    )

    result = await LLMCompiler(client_for(server)).compile(eps)

    got = [(d.kind, d.content, d.confidence, d.source_episode_ids[0]) for d in result.drafts]
    assert got == [
        ("profile_fact", "A", 0.7, eps[0].id),
        ("profile_fact", "B", 1.0, eps[1].id),
        ("episode_summary", "C", 0.7, eps[1].id),
        ("profile_fact", "D", 0.7, eps[0].id),
    ]
    assert result.failed_episode_ids == ()


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"memories": [{"kind": "procedure", "content": "Fenced"}]}\n```',
        '[{"kind": "procedure", "content": "Fenced"}]',
        '{"items": [{"kind": "procedure", "content": "Fenced"}]}',
        '{"kind": "procedure", "content": "Fenced"}',
    ],
)
async def test_accepted_reply_shapes(server: OpenAITestServer, content: str) -> None:
    server.enqueue(Reply.chat(content))
    result = await LLMCompiler(client_for(server)).compile([episode("x")])
    assert [(d.kind, d.content) for d in result.drafts] == [("procedure", "Fenced")]


@pytest.mark.parametrize("content", ['{"answer": 42}', "null", "not json at all", None])
async def test_unusable_replies_fail_the_batch(
    server: OpenAITestServer, content: str | None
) -> None:
    server.enqueue(Reply.chat(content))
    ep = episode("x")
    result = await LLMCompiler(client_for(server)).compile([ep])
    assert result.failed_episode_ids == (ep.id,)


async def test_empty_object_means_nothing_to_extract(server: OpenAITestServer) -> None:
    server.enqueue(Reply.chat("{}"))
    result = await LLMCompiler(client_for(server)).compile([episode("hello")])
    assert result.drafts == () and result.failed_episode_ids == ()


async def test_episodes_without_text_send_nothing(server: OpenAITestServer) -> None:
    empty = EpisodeInput(id=uuid.uuid4(), payload={"other": 1}, created_at=T0)
    result = await LLMCompiler(client_for(server)).compile([empty])
    assert result.drafts == () and result.failed_episode_ids == ()
    assert server.requests == []


def test_batching_caps_texts_and_batch_size() -> None:
    eps = [episode("a" * 5000), episode("b" * 2000), episode("c" * 1000), episode("d" * 3000)]
    eps.append(episode("e" * 3000))
    batches = make_batches(eps)
    assert [[len(t) for t in b.texts] for b in batches] == [[4000, 2000], [1000, 3000], [3000]]
    assert [e.id for b in batches for e in b.episodes] == [e.id for e in eps]


class PeakCounter:
    """A responder that answers after 0.2 s and remembers the most calls it held at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        time.sleep(0.2)
        with self._lock:
            self._in_flight -= 1
        return memories({"kind": "episode_summary", "content": request.user_content[-10:]})


async def test_at_most_four_batches_in_flight(server: OpenAITestServer) -> None:
    counter = PeakCounter()
    server.responder = counter
    eps = [episode(f"{i}" * 4000, i) for i in range(7)]

    result = await LLMCompiler(client_for(server)).compile(eps)

    assert len(server.requests) == 7
    assert counter.peak == 4
    assert [d.source_episode_ids for d in result.drafts] == [(e.id,) for e in eps]


async def test_concurrent_compiles_share_the_limit(server: OpenAITestServer) -> None:
    counter = PeakCounter()
    server.responder = counter
    compiler = LLMCompiler(client_for(server), max_concurrent_batches=3)
    subjects = [[episode(f"{s}{i}" * 2000, i) for i in range(4)] for s in range(3)]

    results = await asyncio.gather(*(compiler.compile(eps) for eps in subjects))

    assert len(server.requests) == 12
    assert counter.peak == 3
    assert all(len(r.drafts) == 4 and not r.failed_episode_ids for r in results)


async def test_client_json_helpers(server: OpenAITestServer) -> None:
    client = client_for(server)
    server.enqueue(Reply.chat(None), Reply(raw="<html>oops</html>"), Reply.chat('["a"]'))
    assert await client.complete([{"role": "user", "content": "x"}]) == ""
    with pytest.raises(LLMResponseError, match="non-JSON"):
        await client.complete([{"role": "user", "content": "x"}])
    assert await client.complete_json([{"role": "user", "content": "x"}]) == ["a"]

    server.enqueue(Reply.chat("p"))
    await client.ping()
    assert json.loads(json.dumps(server.requests[-1].body))["max_tokens"] == 1


async def test_make_compiler_builds_llm_compiler(server: OpenAITestServer) -> None:
    compiler = make_compiler("LLM", llm_client=client_for(server))
    server.enqueue(memories({"kind": "procedure", "content": "y"}))
    assert compiler.name == "llm"
    assert [d.content for d in (await compiler.compile([episode("z")])).drafts] == ["y"]


async def test_unreachable_provider_is_a_provider_error() -> None:
    with running_openai_server() as gone:
        base = gone.base_url
    client = LLMClient(LLMConfig(model="m", api_base=base, max_retries=1, retry_backoff_seconds=0))
    with pytest.raises(LLMProviderError, match="request failed"):
        await client.complete([{"role": "user", "content": "x"}])


async def test_embed_texts(server: OpenAITestServer) -> None:
    client = client_for(server)
    rows = [{"index": 1, "embedding": [0, 1]}, {"index": 0, "embedding": [0.5, 0.25]}]
    server.enqueue(Reply(body={"data": rows}), Reply(body={"data": rows[:1]}))
    # A model LiteLLM knows to take ``dimensions`` (it drops the knob for unknown models).
    model = "text-embedding-3-small"
    vectors = await client.embed_texts(["a", "b"], model=f"openai/{model}", dimensions=2)
    assert vectors == [[0.5, 0.25], [0.0, 1.0]]
    assert server.requests[0].path == "/v1/embeddings"
    assert server.requests[0].body == {"model": model, "input": ["a", "b"], "dimensions": 2}
    with pytest.raises(LLMResponseError, match="asked for 2 embeddings, got 1"):
        await client.embed_texts(["a", "b"], model="emb")
    assert await client.embed_texts([], model="emb") == []
