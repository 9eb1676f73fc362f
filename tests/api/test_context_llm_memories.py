"""Context shows the source turns of LLM-written memories too, not their paraphrases.

A real in-process API with the ``llm`` compiler talking to the loopback OpenAI-compatible
test server, which paraphrases every episode (none of the turn's telling words survive).
The search finds the paraphrase; the context must show the turn it came from, verbatim,
under its date — the answer is only there.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.openai_server import (
    OpenAITestServer,
    RecordedRequest,
    Reply,
    running_openai_server,
)
from statewave_server.app import create_app
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings
from tests.fixtures.factories import database_for

_EPISODE = re.compile(r"--- Episode (\d+) ---\n(.*?)(?=\n\n--- Episode \d+ ---\n|\Z)", re.S)
TURNS = {
    "Caroline: We finally adopted a guinea pig, she is called Oscar!": (
        "Caroline has a new small pet at home."
    ),
    "Melanie: I ran my first half marathon along the river in 2 hours 5 minutes.": (
        "Melanie completed a long running race."
    ),
    "Caroline: My grandmother taught me to knit scarves when I was nine.": (
        "Caroline learned a textile craft as a child."
    ),
}


def paraphrase(request: RecordedRequest) -> Reply:
    """One summary per episode, in other words (the turn's details are left out)."""
    items = [
        {
            "kind": "episode_summary",
            "content": TURNS[text.strip()],
            "confidence": 0.9,
            "episode_index": int(index),
        }
        for index, text in _EPISODE.findall(request.user_content)
    ]
    return Reply.chat_json({"memories": items})


@pytest.fixture
def llm() -> Iterator[OpenAITestServer]:
    with running_openai_server() as server:
        server.responder = paraphrase
        yield server


@pytest.fixture
async def api(head_db_url: str, llm: OpenAITestServer) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,
        database_url=head_db_url,
        run_worker_in_process=False,
        embedding_provider="hash",
        compiler_type="llm",
        litellm_model="gpt-test",
        litellm_api_base=llm.base_url,
        litellm_api_key="sk-test",
        litellm_max_retries=0,
    )
    engine = create_async_engine(head_db_url)
    app = create_app(settings, database_for(engine), build_runtime(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client
    await engine.dispose()


async def test_context_shows_the_turns_behind_paraphrased_memories(
    api: httpx.AsyncClient,
) -> None:
    episodes = [
        {
            "subject_id": "friends",
            "source": "conversation",
            "type": "message",
            "session_id": "s1",
            "occurred_at": "2023-05-08T13:56:00Z",
            "payload": {"messages": [{"role": name, "content": said}]},
        }
        for name, said in (turn.split(": ", 1) for turn in TURNS)
    ]
    assert (await api.post("/v1/episodes/batch", json={"episodes": episodes})).status_code == 201
    compiled = await api.post("/v1/memories/compile", json={"subject_id": "friends"})
    assert compiled.status_code == 200 and compiled.json()["memories_created"] == 3

    reply = await api.post(
        "/v1/context",
        json={"subject_id": "friends", "task": "What small pet does Caroline have?"},
    )

    assert reply.status_code == 200
    body = reply.json()
    text = body["assembled_context"]
    day = text.split("### 8 May 2023\n", 1)[1]
    assert "- Caroline: We finally adopted a guinea pig, she is called Oscar!\n" in day
    assert "Caroline has a new small pet at home." not in text  # the turn says it, verbatim
    pet_turn = next(e for e in body["episodes"] if "guinea pig" in str(e["payload"]))
    assert pet_turn["id"] in body["provenance"]["episode_ids"]
