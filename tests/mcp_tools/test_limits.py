"""Large inputs are bounded: they are stored whole, but results stay small."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.server import RunningServer
from tests.mcp_tools.conftest import Connect, error, http_session, ok

pytestmark = pytest.mark.slow

MB = 1024 * 1024


def note(subject: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "source": "user",
        "type": "note",
        "payload": {"text": text},
    } | extra


async def test_a_megabyte_episode_is_stored_and_every_result_stays_small(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    text = "The export of the quarterly report failed again today. " * (MB // 55)
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        recorded = await session.call_tool("record_episode", note(subject, text))
        assert len(recorded.content[0].text) < 300  # type: ignore[union-attr]
        ok(recorded)
        ok(await session.call_tool("compile_memories", {"subject_id": subject}))
        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
        found = ok(
            await session.call_tool("search_memories", {"subject_id": subject, "query": "export"})
        )
        context = ok(
            await session.call_tool(
                "get_context", {"subject_id": subject, "task": "the export", "max_tokens": 200}
            )
        )
    assert len(timeline["episodes"][0]["text"]) == 300
    assert timeline["episodes"][0]["text"].endswith("…")
    assert found["memories"] and all(len(m["content"]) <= 500 for m in found["memories"])
    assert context["token_estimate"] <= 200
    for result in (timeline, found, context):
        assert len(json.dumps(result)) < 10_000


async def test_compiled_memories_listed_are_capped(
    mcp_server: RunningServer, tenant: str, subject: str
) -> None:
    turns = [note(subject, f"Step {i}: I restarted the sync agent on host {i}.") for i in range(40)]
    async with http_session(mcp_server.base_url, tenant=tenant) as session:
        ok(await session.call_tool("record_episodes", {"episodes": turns}))
        compiled = ok(await session.call_tool("compile_memories", {"subject_id": subject}))
    assert compiled["memories_created"] >= 40
    assert len(compiled["memories"]) == 20


async def test_a_payload_nested_too_deeply_is_a_validation_error(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    nested: dict[str, Any] = {"text": "bottom"}
    for _ in range(70):
        nested = {"inner": nested}
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        failure = error(
            await session.call_tool("record_episode", note(subject, "x") | {"payload": nested})
        )
    assert failure["code"] == "validation_error"
    assert failure["details"][0]["field"] == "payload"
