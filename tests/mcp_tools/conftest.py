"""A live server for the MCP suite (real uvicorn, embedded PostgreSQL) and real MCP clients.

Clients are the official ``mcp`` SDK's ``ClientSession`` over streamable HTTP (``/mcp``)
or over stdio (``statewave mcp`` spawned as a subprocess). Every test gets its own tenant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from devtools.postgres import PgServer
from devtools.server import RunningServer, clean_env, start_on_free_port, uvicorn_command

API_KEY = "mcp-suite-key-0123456789"


@contextmanager
def live_server(
    pg: PgServer, template: str, tmp: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[RunningServer]:
    """Uvicorn on a fresh database cloned from ``template``: local embeddings, no
    in-process worker, plus ``env``."""
    db_url = pg.create_database(name, template=template)
    log_path = tmp.mktemp(name) / "server.log"
    with start_on_free_port(
        uvicorn_command,
        log_path,
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="local",
        **env,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def mcp_server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """API key on and ``delete_subject`` offered."""
    with live_server(
        pg,
        migrated_template,
        tmp_path_factory,
        "mcp",
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_MCP_ALLOW_DELETE="true",
    ) as server:
        yield server


def headers(api_key: str | None, tenant: str | None) -> dict[str, str]:
    sent = {"X-API-Key": api_key} if api_key else {}
    return sent | ({"X-Tenant-ID": tenant} if tenant else {})


@asynccontextmanager
async def http_session(
    base_url: str,
    *,
    api_key: str | None = API_KEY,
    tenant: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialised ``ClientSession`` on ``<base_url>/mcp`` with the given headers."""
    sent = headers(api_key, tenant) | (extra_headers or {})
    async with (
        httpx2.AsyncClient(headers=sent, timeout=120) as http,
        streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def statewave_mcp_command(url: str, *, api_key: str | None, tenant: str | None) -> list[str]:
    """``statewave mcp`` as a desktop client would configure it (module entry point)."""
    args = ["-m", "statewave_server", "mcp", "--url", url]
    args += ["--api-key", api_key] if api_key else []
    args += ["--tenant", tenant] if tenant else []
    return [sys.executable, *args]


@asynccontextmanager
async def stdio_session(
    base_url: str, *, api_key: str | None = API_KEY, tenant: str | None = None
) -> AsyncIterator[ClientSession]:
    """An initialised ``ClientSession`` talking to a spawned ``statewave mcp`` process."""
    command, *args = statewave_mcp_command(base_url, api_key=api_key, tenant=tenant)
    params = StdioServerParameters(
        command=command, args=args, env=clean_env(), cwd=str(Path(__file__).parents[2])
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class Connect(Protocol):
    """:func:`http_session` or :func:`stdio_session`."""

    def __call__(
        self, base_url: str, *, api_key: str | None = API_KEY, tenant: str | None = None
    ) -> AbstractAsyncContextManager[ClientSession]: ...


@pytest.fixture(params=["http", "stdio"])
def connect(request: pytest.FixtureRequest) -> Connect:
    """Both transports: each test using it runs once over HTTP and once over stdio."""
    return http_session if request.param == "http" else stdio_session


def mcp_refusal(exc: BaseException) -> MCPError:
    """The ``MCPError`` a client raised, possibly inside the SDK's task-group groups."""
    pending = [exc]
    while pending:
        current = pending.pop()
        if isinstance(current, MCPError):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
    raise AssertionError(f"no MCPError in {exc!r}")


def payload(result: CallToolResult) -> dict[str, Any]:
    """The JSON a tool answered (its text content; the error envelope when ``isError``)."""
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    decoded: dict[str, Any] = json.loads(block.text)
    return decoded


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = payload(result)
    assert result.structured_content == data
    return data


def error(result: CallToolResult) -> dict[str, Any]:
    """The envelope's ``error`` object of a failed call."""
    assert result.is_error, result.content
    envelope = payload(result)
    assert set(envelope) == {"error"}
    inner: dict[str, Any] = envelope["error"]
    assert isinstance(inner["code"], str) and isinstance(inner["message"], str)
    return inner
