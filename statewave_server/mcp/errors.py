"""Failures as MCP tool errors: ``isError`` results whose text is the ``/v1`` envelope.

A model reads the text, so the envelope it gets is the one REST clients get —
``{"error": {"code", "message", "details"?, "request_id"?}}`` — with argument errors
spelled out per field (without echoing the rejected values, which may be large).
"""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from statewave_server.api.errors import error_body
from statewave_server.mcp.results import clip

MAX_DETAILS = 10
DETAIL_CHARS = 200


def error_result(
    code: str, message: str, *, details: Any = None, request_id: str | None = None
) -> CallToolResult:
    body = error_body(code, message, details=details, request_id=request_id)
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body))], is_error=True)


def invalid_arguments(
    tool: str, exc: ValidationError, *, request_id: str | None = None
) -> CallToolResult:
    """``validation_error`` naming each bad field and what is wrong with it."""
    details = [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "(arguments)",
            "problem": clip(err["msg"], DETAIL_CHARS),
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)[:MAX_DETAILS]
    ]
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:3])
    return error_result(
        "validation_error",
        f"Invalid arguments for {tool}: {summary}",
        details=details,
        request_id=request_id,
    )
