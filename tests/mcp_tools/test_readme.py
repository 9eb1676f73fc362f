"""The README's desktop-client configuration, launched as a client would launch it."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from devtools.postgres import REPO_ROOT
from devtools.server import RunningServer, clean_env
from tests.mcp_tools.conftest import API_KEY, ok
from tests.mcp_tools.test_security import INITIALIZE, MCP_HEADERS
from tests.sdk.test_readme import readme_blocks

pytestmark = pytest.mark.slow


async def test_the_readme_client_configuration_serves_the_tools(
    mcp_server: RunningServer, subject: str
) -> None:
    [block] = readme_blocks("mcp_config")
    entry = json.loads(block)["mcpServers"]["statewave"]
    args = [mcp_server.base_url if a == "http://localhost:8100" else a for a in entry["args"]]
    assert args != entry["args"], "the README's --url is no longer the default URL"
    env = clean_env(**(entry["env"] | {"STATEWAVE_API_KEY": API_KEY}))
    command = shutil.which(entry["command"], path=env["PATH"])
    assert command, f"{entry['command']} is not installed on PATH"
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(REPO_ROOT))
    note = {"subject_id": subject, "source": "user", "type": "note", "payload": {"text": "hi"}}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert len((await session.list_tools()).tools) == 9
        ok(await session.call_tool("record_episode", note))
    # The configured tenant ("acme") is where the episode went.
    async with httpx.AsyncClient(base_url=mcp_server.base_url) as http:
        response = await http.get(
            "/v1/timeline",
            params={"subject_id": subject},
            headers={"X-API-Key": API_KEY, "X-Tenant-ID": "acme"},
        )
    assert len(response.json()["episodes"]) == 1


def test_the_endpoint_is_stateless_with_json_responses(mcp_server: RunningServer) -> None:
    headers = MCP_HEADERS | {"X-API-Key": API_KEY}
    response = httpx.post(f"{mcp_server.base_url}/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in response.headers
    assert response.json()["result"]["serverInfo"]["name"] == "statewave"
