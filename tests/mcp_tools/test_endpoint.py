"""``/mcp`` runs with the app's lifespan: refused before it, served in every run of it."""

from __future__ import annotations

import httpx

from statewave_server.api.app import create_app
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
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
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
