"""Every tool, driven by the official MCP client over streamable HTTP and over stdio."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from devtools.server import RunningServer
from tests.mcp_tools.conftest import API_KEY, Connect, error, ok

pytestmark = pytest.mark.slow

SESSION = "ticket-7"
TURNS = (
    ("user", "Hi, my name is Alice Chen and I work at Globex.", "2025-03-01T09:00:00Z"),
    ("assistant", "Hello Alice, I'm Sam from support. What happened?", "2025-03-01T09:01:00Z"),
    ("user", "The CSV export has failed since Monday. I use Firefox.", "2025-03-01T09:02:00Z"),
)
ALL_TOOLS = {
    "record_episode",
    "record_episodes",
    "compile_memories",
    "get_context",
    "search_memories",
    "get_timeline",
    "record_resolution",
    "create_handoff",
    "delete_subject",
}
READ_ONLY = {"get_context", "search_memories", "get_timeline"}


def turn(subject: str, source: str, text: str, occurred_at: str) -> dict[str, object]:
    return {
        "subject_id": subject,
        "source": source,
        "type": "message",
        "payload": {"messages": [{"role": source, "content": text}]},
        "session_id": SESSION,
        "occurred_at": occurred_at,
    }


async def test_tools_are_listed_with_schemas_a_model_can_follow(
    mcp_server: RunningServer, connect: Connect, tenant: str
) -> None:
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == ALL_TOOLS
    for name, tool in listed.items():
        assert tool.description and len(tool.description) > 60, name
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        assert "subject_id" in schema["required"] or name == "record_episodes", name
        described = {k for k, v in schema["properties"].items() if v.get("description")}
        assert described == set(schema["properties"]), f"{name}: undescribed properties"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (name in READ_ONLY), name
        assert tool.annotations.destructive_hint is (name == "delete_subject"), name
    episode = listed["record_episode"].input_schema["properties"]
    assert {"type": "string", "format": "date-time"} in episode["occurred_at"]["anyOf"]
    assert "session_id" in episode
    budget = listed["get_context"].input_schema["properties"]["max_tokens"]
    assert (budget["maximum"], budget["default"]) == (8000, 1500)


async def test_the_memory_loop_through_every_tool(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        first = ok(await session.call_tool("record_episode", turn(subject, *TURNS[0])))
        assert (first["subject_id"], first["session_id"]) == (subject, SESSION)
        assert first["occurred_at"] == "2025-03-01T09:00:00Z"
        uuid.UUID(first["id"])

        batch = ok(
            await session.call_tool(
                "record_episodes", {"episodes": [turn(subject, *t) for t in TURNS[1:]]}
            )
        )
        assert batch["episodes_created"] == 2
        assert [e["occurred_at"] for e in batch["episodes"]] == [t[2] for t in TURNS[1:]]
        episode_ids = [first["id"], *(e["id"] for e in batch["episodes"])]

        compiled = ok(await session.call_tool("compile_memories", {"subject_id": subject}))
        assert compiled["memories_created"] == len(compiled["memories"]) > 0
        facts = {m["content"]: m for m in compiled["memories"] if m["kind"] == "profile_fact"}
        assert "I work at Globex" in facts
        assert facts["I work at Globex"]["source_episode_ids"] == [first["id"]]
        again = ok(await session.call_tool("compile_memories", {"subject_id": subject}))
        assert again["memories_created"] == 0

        context = ok(
            await session.call_tool(
                "get_context",
                {"subject_id": subject, "task": "Help with the CSV export", "max_tokens": 600},
            )
        )
        assert context["assembled_context"].startswith("## Task\nHelp with the CSV export")
        assert "I work at Globex" in context["assembled_context"]
        assert 0 < context["token_estimate"] <= 600
        assert facts["I work at Globex"]["id"] in context["provenance"]["fact_ids"]

        found = ok(
            await session.call_tool(
                "search_memories", {"subject_id": subject, "query": "employer company"}
            )
        )
        assert found["memories"] and found["memories"][0]["content"] == "I work at Globex"
        words = ok(
            await session.call_tool(
                "search_memories",
                {"subject_id": subject, "query": "Firefox", "semantic": False, "limit": 1},
            )
        )
        assert len(words["memories"]) == 1 and "Firefox" in words["memories"][0]["content"]
        only_facts = ok(
            await session.call_tool(
                "search_memories", {"subject_id": subject, "kind": "profile_fact"}
            )
        )
        assert {m["kind"] for m in only_facts["memories"]} == {"profile_fact"}

        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
        assert [e["id"] for e in timeline["episodes"]] == episode_ids
        assert timeline["episodes"][0]["text"] == f"user: {TURNS[0][1]}"
        assert {m["id"] for m in timeline["memories"]} >= {m["id"] for m in compiled["memories"]}
        page = ok(
            await session.call_tool(
                "get_timeline", {"subject_id": subject, "limit": 1, "newest_first": False}
            )
        )
        assert [e["id"] for e in page["episodes"]] == episode_ids[:1]
        assert page["episodes_has_more"] is True

        resolution = ok(
            await session.call_tool(
                "record_resolution",
                {
                    "subject_id": subject,
                    "session_id": SESSION,
                    "status": "resolved",
                    "resolution_summary": "Cleared the export cache.",
                },
            )
        )
        assert resolution["status"] == "resolved" and resolution["resolved_at"]
        assert resolution["resolution_summary"] == "Cleared the export cache."

        handoff = ok(
            await session.call_tool(
                "create_handoff",
                {"subject_id": subject, "session_id": SESSION, "max_tokens": 300},
            )
        )
        assert handoff["handoff_notes"].startswith(f"# Handoff Brief — {subject}")
        assert 0 < handoff["token_estimate"] <= 300
        assert handoff["provenance"]["resolution_ids"] == [resolution["id"]]
        assert handoff["health_state"] in {"healthy", "watch", "at_risk"}

        deleted = ok(await session.call_tool("delete_subject", {"subject_id": subject}))
        assert deleted["episodes_deleted"] == 3
        assert deleted["memories_deleted"] == compiled["memories_created"]
        empty = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
        assert empty["episodes"] == [] and empty["memories"] == []


async def test_retrying_with_an_idempotency_key_stores_once(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    episode = turn(subject, *TURNS[0]) | {"idempotency_key": "turn-0"}
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        first = ok(await session.call_tool("record_episode", episode))
        second = ok(await session.call_tool("record_episode", episode))
        changed = episode | {"payload": {"text": "something else"}}
        conflict = error(await session.call_tool("record_episode", changed))
        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
    assert first["id"] == second["id"]
    assert conflict["code"] == "idempotency_conflict"
    assert len(timeline["episodes"]) == 1


async def test_unknown_tool_is_a_tool_error_naming_the_tools(
    mcp_server: RunningServer, connect: Connect, tenant: str
) -> None:
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        failure = error(await session.call_tool("remember_everything", {}))
    assert failure["code"] == "unknown_tool"
    assert "record_episode" in failure["message"]


async def test_the_sdk_client_on_the_newest_protocol_gets_the_same_tools_and_tenancy(
    mcp_server: RunningServer, tenant: str, subject: str
) -> None:
    @asynccontextmanager
    async def client_for(tenant_id: str) -> AsyncIterator[Client]:
        sent = {"X-API-Key": API_KEY, "X-Tenant-ID": tenant_id}
        async with (
            httpx2.AsyncClient(headers=sent) as http,
            Client(streamable_http_client(f"{mcp_server.base_url}/mcp", http_client=http)) as c,
        ):
            yield c

    async with client_for(tenant) as client:
        assert client.session._negotiated_version in MODERN_PROTOCOL_VERSIONS
        assert {t.name for t in (await client.list_tools()).tools} == ALL_TOOLS
        ok(await client.call_tool("record_episode", turn(subject, *TURNS[0])))
        mine = ok(await client.call_tool("get_timeline", {"subject_id": subject}))
    async with client_for(f"{tenant}-other") as other:
        theirs = ok(await other.call_tool("get_timeline", {"subject_id": subject}))
    assert len(mine["episodes"]) == 1 and theirs["episodes"] == []
