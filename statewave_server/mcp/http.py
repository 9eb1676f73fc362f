"""``/mcp``: the tools over streamable HTTP, inside the FastAPI app.

The endpoint is a plain route of the app, so every request to it passes the same edge
middleware as ``/v1`` (CORS, request id, API key, rate limit, tenant, body limits). The
SDK's session manager runs stateless with JSON responses: each POST stands alone, so any
worker process can answer it, and its task group lives in the app's lifespan
(:meth:`McpEndpoint.run`).

Requests the edge middleware refuses (401/403 key, 400 tenant, 413/422 body, 429 rate)
carry the REST error envelope; :class:`McpRefusals` re-frames them as JSON-RPC errors
(same HTTP status, the envelope as ``error.data``) so MCP clients can surface them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.errors import error_body
from statewave_server.mcp.server import build_server
from statewave_server.settings import Settings

MCP_PATH = "/mcp"
# JSON-RPC's range for implementation-defined server errors: "the HTTP layer refused".
REFUSED = -32001


class McpEndpoint:
    """The ASGI app behind ``/mcp`` (stateless streamable HTTP, JSON responses).

    The SDK's session manager runs only once, so each run of the app's lifespan gets a
    fresh one; outside a run the endpoint answers 503.
    """

    def __init__(self, settings: Settings) -> None:
        self._server = build_server(settings)
        self._max_body_bytes = settings.max_body_bytes
        self._manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None:
            body = error_body("service_unavailable", "The MCP endpoint is not running yet.")
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The session manager's task group, for the duration of the app's lifespan."""
        manager = StreamableHTTPSessionManager(
            app=self._server,
            json_response=True,
            stateless=True,
            max_request_body_size=self._max_body_bytes,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None


def refusal_as_jsonrpc(body: bytes) -> bytes | None:
    """A REST error envelope re-framed as a JSON-RPC error; None for any other body."""
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        return None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return None  # not the envelope (e.g. already a JSON-RPC error from the SDK)
    framed = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": REFUSED, "message": str(error.get("message", "")), "data": error},
    }
    return json.dumps(framed).encode()


class McpRefusals:
    """Outermost middleware: on ``/mcp`` only, error envelopes become JSON-RPC errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reframing_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # held back until the body is known
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            framed = refusal_as_jsonrpc(body)
            if framed is not None:
                headers = MutableHeaders(scope=start)
                headers["content-type"] = "application/json"
                headers["content-length"] = str(len(framed))
                body = framed
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reframing_send)


def mount_mcp(app: FastAPI, settings: Settings) -> McpEndpoint:
    """Serve the tools at ``/mcp``; the caller runs ``endpoint.run()`` in its lifespan and
    installs :class:`McpRefusals` as the outermost middleware."""
    endpoint = McpEndpoint(settings)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, include_in_schema=False))
    return endpoint
