"""``/mcp`` in process: it follows the app's lifespan, and database outages are tool errors."""

from __future__ import annotations

import json

import httpx

from devtools.server import free_port
from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import build_runtime
from tests.mcp_tools.test_security import INITIALIZE, MCP_HEADERS
from tests.reliability.support import app_settings

LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


async def test_the_endpoint_serves_during_each_lifespan_run_only(db_url: str) -> None:
    settings = app_settings(db_url, tracing_enabled=False)
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            before = await client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert before.status_code == 503
            assert before.json()["error"]["data"]["code"] == "service_unavailable"
            for _ in range(2):  # e.g. a test harness restarting the app
                async with app.router.lifespan_context(app):
                    listed = await client.post(
                        "/mcp",
                        json=LIST_TOOLS,
                        headers=MCP_HEADERS | {"MCP-Protocol-Version": "2025-06-18"},
                    )
                    assert listed.status_code == 200, listed.text
                    names = {tool["name"] for tool in listed.json()["result"]["tools"]}
                    assert "get_context" in names and "delete_subject" not in names
    finally:
        await database.dispose()


async def test_a_database_outage_is_a_database_unavailable_tool_error() -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = app_settings(dead, db_connect_timeout_seconds=1, tracing_enabled=False)
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "get_timeline", "arguments": {"subject_id": "s"}},
    }
    headers = MCP_HEADERS | {"MCP-Protocol-Version": "2025-06-18"}
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.state.mcp.run(),  # the endpoint alone: the app's lifespan would need the DB
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as c,
        ):
            answered = await c.post("/mcp", json=call, headers=headers)
    finally:
        await database.dispose()
    assert answered.status_code == 200
    result = answered.json()["result"]
    assert result["isError"] is True
    envelope = json.loads(result["content"][0]["text"])
    assert envelope["error"]["code"] == "database_unavailable"
    assert envelope["error"]["request_id"] == answered.headers["X-Request-ID"]


async def test_the_network_policy_of_the_edge_applies_to_mcp(db_url: str) -> None:
    """Without an API key only loopback clients are served, and only known Host names."""
    settings = app_settings(db_url, tracing_enabled=False, trusted_proxies=["127.0.0.1/32"])
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    transport = httpx.ASGITransport(app=app)  # the peer is 127.0.0.1, a trusted proxy
    try:
        async with (
            app.state.mcp.run(),
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
        ):
            remote = await client.post(
                "/mcp", json=INITIALIZE, headers=MCP_HEADERS | {"X-Forwarded-For": "192.0.2.7"}
            )
            rebound = await client.post(
                "/mcp", json=INITIALIZE, headers=MCP_HEADERS | {"Host": "evil.example"}
            )
            local = await client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    finally:
        await database.dispose()
    assert (remote.status_code, remote.json()["error"]["data"]["code"]) == (403, "loopback_only")
    assert (rebound.status_code, rebound.json()["error"]["data"]["code"]) == (400, "invalid_host")
    assert local.status_code == 200
