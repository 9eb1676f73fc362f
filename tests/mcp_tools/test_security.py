"""``/mcp`` sits behind the same API key and tenant handling as ``/v1``."""

from __future__ import annotations

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from devtools.server import RunningServer
from tests.mcp_tools.conftest import (
    API_KEY,
    Connect,
    error,
    http_session,
    mcp_refusal,
    ok,
    stdio_session,
)

pytestmark = pytest.mark.slow

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def episode(subject: str, text: str) -> dict[str, object]:
    return {
        "subject_id": subject,
        "source": "user",
        "type": "message",
        "payload": {"messages": [{"role": "user", "content": text}]},
        "session_id": "s-1",
    }


@pytest.mark.parametrize(
    ("api_key", "status", "code"),
    [(None, 401, "missing_api_key"), ("not-the-key", 403, "invalid_api_key")],
)
def test_refused_keys_answer_the_status_and_envelope_as_a_jsonrpc_error(
    mcp_server: RunningServer, api_key: str | None, status: int, code: str
) -> None:
    headers = MCP_HEADERS | ({"X-API-Key": api_key} if api_key else {})
    response = httpx.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32001
    assert body["error"]["data"]["code"] == code
    assert body["error"]["data"]["request_id"] == response.headers["X-Request-ID"]
    assert body["error"]["message"] == body["error"]["data"]["message"]


@pytest.mark.parametrize("api_key", [None, "not-the-key"])
async def test_the_mcp_client_sees_the_refusal_and_nothing_is_stored(
    mcp_server: RunningServer, tenant: str, subject: str, api_key: str | None
) -> None:
    with pytest.raises(Exception) as refused:
        async with http_session(mcp_server.base_url, api_key=api_key, tenant=tenant) as session:
            await session.call_tool("record_episode", episode(subject, "sneaky"))
    assert mcp_refusal(refused.value).data["code"] in {"missing_api_key", "invalid_api_key"}

    # The tool never ran: a request without the key was refused before any tool.
    raw = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "record_episode", "arguments": episode(subject, "sneaky")},
    }
    headers = MCP_HEADERS | {"X-Tenant-ID": tenant, "MCP-Protocol-Version": "2025-06-18"}
    async with httpx.AsyncClient() as http:
        sneaky = await http.post(f"{mcp_server.base_url}/mcp", json=raw, headers=headers)
    assert sneaky.status_code == 401
    async with http_session(mcp_server.base_url, tenant=tenant) as session:
        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
    assert timeline["episodes"] == []


async def test_over_stdio_a_wrong_key_fails_listing_and_calls_with_the_code(
    mcp_server: RunningServer, tenant: str, subject: str
) -> None:
    async with stdio_session(mcp_server.base_url, api_key="not-the-key", tenant=tenant) as s:
        with pytest.raises(MCPError) as listing:
            await s.list_tools()
        failure = error(await s.call_tool("record_episode", episode(subject, "sneaky")))
    assert "invalid_api_key" in listing.value.message
    assert failure["code"] == "invalid_api_key"
    assert failure["message"] == "Invalid API key."


async def test_another_tenants_memories_are_invisible_and_untouchable(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    other = f"{tenant}-other"
    async with connect(mcp_server.base_url, tenant=tenant) as owner:
        ok(await owner.call_tool("record_episode", episode(subject, "I work at Initech.")))
        compiled = ok(await owner.call_tool("compile_memories", {"subject_id": subject}))
        assert compiled["memories_created"] > 0

    async with connect(mcp_server.base_url, tenant=other) as intruder:
        search = {"subject_id": subject, "query": "Initech"}
        assert ok(await intruder.call_tool("search_memories", search))["memories"] == []
        context = ok(
            await intruder.call_tool(
                "get_context", {"subject_id": subject, "task": "Where does the user work?"}
            )
        )
        assert "Initech" not in context["assembled_context"]
        assert all(ids == [] for ids in context["provenance"].values())
        timeline = ok(await intruder.call_tool("get_timeline", {"subject_id": subject}))
        assert timeline["episodes"] == [] and timeline["memories"] == []
        deleted = ok(await intruder.call_tool("delete_subject", {"subject_id": subject}))
        assert (deleted["episodes_deleted"], deleted["memories_deleted"]) == (0, 0)

    async with connect(mcp_server.base_url, tenant=tenant) as owner:
        kept = ok(await owner.call_tool("search_memories", {"subject_id": subject}))
    assert len(kept["memories"]) == compiled["memories_created"]


def test_a_malformed_tenant_header_is_refused(mcp_server: RunningServer) -> None:
    headers = MCP_HEADERS | {"X-API-Key": API_KEY, "X-Tenant-ID": "t" * 300}
    response = httpx.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["data"]["code"] == "invalid_tenant"
