"""The MCP server (the SDK's low-level ``Server``) that runs the tool table in-process.

Each ``tools/call`` arrives on an HTTP request that has already passed the app's edge
middleware (API key, rate limit, tenant): the tenant and the process's database and
runtime are read from that request exactly as the ``/v1`` dependencies read them.
Arguments are validated by the tool's model, failures become ``isError`` results.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import structlog
from fastapi import Request
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.server import lifespan as default_lifespan
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from pydantic import ValidationError

from statewave_server import __version__
from statewave_server.api import deps
from statewave_server.errors import failure_of
from statewave_server.mcp.errors import error_result, invalid_arguments
from statewave_server.mcp.tools import ToolContext, ToolSpec, tools_for
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.mcp")

SERVER_NAME = "statewave"
INSTRUCTIONS = (
    "Statewave is long-term memory keyed by subject (a user, customer, account...). "
    "Record what happens with record_episode(s), call compile_memories, then recall with "
    "get_context before answering (or search_memories / get_timeline for specifics)."
)


def tool_listing(tool: ToolSpec) -> Tool:
    """The tool as ``tools/list`` shows it: JSON schemas straight from its models."""
    return Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.arguments.model_json_schema(),
        output_schema=tool.result.model_json_schema(mode="serialization"),
        annotations=tool.annotations,
    )


def _tool_context(request: Request) -> ToolContext:
    return ToolContext(
        tenant_id=deps.tenant_id(request),
        db=deps.db(request),
        runtime=deps.runtime(request),
        reads=deps.read_db(request),
    )


async def _call(
    tool: ToolSpec, arguments: dict[str, Any], request: Request, request_id: str | None
) -> CallToolResult:
    try:
        args = tool.arguments.model_validate(arguments)
    except ValidationError as exc:
        return invalid_arguments(tool.name, exc, request_id=request_id)
    try:
        result = await tool.run(args, _tool_context(request))
    except Exception as exc:
        failure = failure_of(exc)
        return error_result(
            failure.code, failure.message, details=failure.details, request_id=request_id
        )
    return CallToolResult(
        content=[TextContent(type="text", text=result.model_dump_json())],
        structured_content=result.model_dump(mode="json"),
    )


L = TypeVar("L")
ListTools = Callable[
    [ServerRequestContext[L], PaginatedRequestParams | None], Awaitable[ListToolsResult]
]
CallTool = Callable[[ServerRequestContext[L], CallToolRequestParams], Awaitable[CallToolResult]]
Lifespan = Callable[[Server[L]], AbstractAsyncContextManager[L]]


def named_server(
    list_tools: ListTools[L], call_tool: CallTool[L], lifespan: Lifespan[L]
) -> Server[L]:
    """A server introducing itself as Statewave, whether it runs the tools or relays them."""
    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def build_server(settings: Settings) -> Server[Any]:
    """The tools of this deployment (``delete_subject`` only with ``mcp_allow_delete``)."""
    tools = tools_for(settings.mcp_allow_delete)
    listing = ListToolsResult(tools=[tool_listing(t) for t in tools.values()])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return listing

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        request = ctx.request
        if not isinstance(request, Request):
            raise RuntimeError("Statewave's MCP tools are served over HTTP only")
        request_id = getattr(request.state, "request_id", None)
        tool = tools.get(params.name)
        if tool is None:
            return error_result(
                "unknown_tool",
                f"No tool named {params.name[:100]!r}; available: {', '.join(tools)}.",
                request_id=request_id,
            )
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            result = await _call(tool, params.arguments or {}, request, request_id)
            log.info(
                "mcp_tool_call",
                tool=tool.name,
                ok=not result.is_error,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return result

    return named_server(list_tools, call_tool, default_lifespan)
