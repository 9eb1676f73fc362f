"""``statewave mcp``: the server's tools for a desktop client, over stdio.

A relay, not a second implementation: ``tools/list`` and ``tools/call`` are forwarded to
the configured server's ``/mcp`` endpoint (with the API key and tenant headers), so the
desktop client sees exactly the tools, schemas, results and errors of that server.

Failures reach the desktop client as tool errors carrying the same envelope as ``/v1``
(``isError`` results), or ``server_unreachable`` when the server cannot be reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    CallToolRequest,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
)
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from statewave_server.mcp.errors import error_result
from statewave_server.mcp.http import MCP_PATH
from statewave_server.mcp.server import named_server

TIMEOUT = httpx2.Timeout(30.0, read=300.0)
T = TypeVar("T")


@dataclass(frozen=True)
class Remote:
    """Where the tools run: a Statewave server's base URL and the headers it wants."""

    url: str
    api_key: str | None = None
    tenant: str | None = None

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + MCP_PATH

    def headers(self) -> dict[str, str]:
        sent = {"X-API-Key": self.api_key} if self.api_key else {}
        return sent | ({"X-Tenant-ID": self.tenant} if self.tenant else {})


@asynccontextmanager
async def upstream(remote: Remote, http: httpx2.AsyncClient) -> AsyncIterator[ClientSession]:
    """A client session to ``remote``'s endpoint on the newest protocol, whose requests
    stand alone: no handshake, so each relayed call is one HTTP request (and one count
    against the server's rate limit)."""
    transport = streamable_http_client(remote.endpoint, http_client=http)
    async with Client(transport, mode=MODERN_PROTOCOL_VERSIONS[-1]) as client:
        yield client.session


class RemoteFailure(Exception):
    """The remote server refused or could not be reached: an envelope code and message."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.request_id = code, message, request_id


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) task-group exception groups, or ``exc`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def remote_failure(exc: Exception, endpoint: str) -> RemoteFailure:
    """What went wrong talking to ``endpoint``, in envelope terms."""
    for leaf in _leaves(exc):
        if isinstance(leaf, MCPError):
            data: Any = leaf.data
            if isinstance(data, dict) and isinstance(data.get("code"), str):
                message = str(data.get("message", leaf.message))
                return RemoteFailure(data["code"], message, data.get("request_id"))
            return RemoteFailure("remote_error", leaf.message)
        if isinstance(leaf, httpx2.HTTPError | OSError):
            return RemoteFailure(
                "server_unreachable", f"Cannot reach {endpoint}: {type(leaf).__name__}."
            )
    return RemoteFailure("remote_error", f"{type(exc).__name__} talking to {endpoint}.")


async def on_remote(
    remote: Remote, http: httpx2.AsyncClient, action: Callable[[ClientSession], Awaitable[T]]
) -> T:
    """Run ``action`` on a fresh session: one per call, so a server that is down, restarts
    or refuses a request costs that call only (the endpoint is stateless anyway)."""
    try:
        async with upstream(remote, http) as session:
            return await action(session)
    except Exception as exc:
        raise remote_failure(exc, remote.endpoint) from exc


def relay_server(remote: Remote) -> Server[httpx2.AsyncClient]:
    """A stdio-side server whose tools are the remote server's; one HTTP client, kept for
    the process's life, so calls reuse its connections."""

    @asynccontextmanager
    async def lifespan(_: Server[httpx2.AsyncClient]) -> AsyncIterator[httpx2.AsyncClient]:
        async with httpx2.AsyncClient(headers=remote.headers(), timeout=TIMEOUT) as http:
            yield http

    async def list_tools(
        ctx: ServerRequestContext[httpx2.AsyncClient], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        try:
            return await on_remote(
                remote, ctx.lifespan_context, lambda session: session.list_tools(params=params)
            )
        except RemoteFailure as failure:
            raise MCPError(INTERNAL_ERROR, str(failure)) from failure

    async def call_tool(
        ctx: ServerRequestContext[httpx2.AsyncClient], params: CallToolRequestParams
    ) -> CallToolResult:
        try:
            # Returned as is: the desktop client checks it against the listed schema.
            call = CallToolRequest(
                params=CallToolRequestParams(name=params.name, arguments=params.arguments)
            )
            result = await on_remote(
                remote,
                ctx.lifespan_context,
                lambda session: session.send_request(call, CallToolResult),
            )
        except RemoteFailure as failure:
            return error_result(failure.code, failure.message, request_id=failure.request_id)
        return result

    return named_server(list_tools, call_tool, lifespan)


async def serve_stdio(remote: Remote) -> None:
    """Serve the relay on this process's stdin/stdout until the client closes them."""
    server = relay_server(remote)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
