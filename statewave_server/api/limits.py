"""Request body limits as pure ASGI middleware: size (413) and JSON nesting depth (422).

A body larger than ``max_bytes`` is refused with 413 ``payload_too_large`` — at once when
``Content-Length`` says so, otherwise as soon as the streamed bytes exceed the limit (a
chunked upload is never read past it). JSON bodies (``application/json``, ``+json`` or no
content type, as FastAPI parses them) are read here, checked for nesting deeper than
``max_json_depth`` (422 ``validation_error``: deep documents would otherwise exhaust the
parser's recursion limit) or holding a lone UTF-16 surrogate escape such as ``"\\ud800"``
(422: such text can be neither stored nor echoed back as UTF-8), and replayed to the
application unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.errors import error_body

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Whole documents: far below the parser's recursion limit, yet roomy enough that a
# payload at the field limit still fits inside an admin export/import document.
DEFAULT_MAX_JSON_DEPTH = 128
# A single client JSON field (an episode's payload, metadata, provenance).
MAX_FIELD_DEPTH = 64
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PayloadTooLarge(HTTPException):
    """The streamed body went past the limit (raised from the wrapped ``receive``).

    An ``HTTPException`` so that FastAPI's body reading lets it through to the error
    handlers (413 envelope) instead of turning it into a 400 parse error.
    """

    def __init__(self, max_bytes: int) -> None:
        message = f"Request body exceeds the limit of {max_bytes} bytes."
        super().__init__(413, detail={"code": "payload_too_large", "message": message})


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in a decoded JSON value (a scalar is 0)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        pending.extend((child, depth) for child in children)
    return deepest


def json_too_deep(body: bytes, limit: int) -> bool:
    """True if ``body`` is JSON nested deeper than ``limit`` (malformed JSON: False — the
    application reports it)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: skip decoding
    try:
        decoded = json.loads(body)
    except RecursionError:
        return True
    except ValueError:
        return False
    return json_depth(decoded) > limit


# A JSON escape of a UTF-16 surrogate: only then can the decoded text hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_has_lone_surrogate(body: bytes) -> bool:
    """True if a string or key of JSON ``body`` holds an unpaired surrogate (malformed
    JSON: False — the application reports it)."""
    if _SURROGATE_ESCAPE.search(body) is None:
        return False  # no surrogate escape at all: skip decoding
    try:
        pending: list[Any] = [json.loads(body)]
    except (ValueError, RecursionError):
        return False
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def _is_json(scope: Scope) -> bool:
    raw = _header(scope, b"content-type")
    if raw is None:
        return True
    media = raw.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


async def _reject(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    request_id = scope.get("state", {}).get("request_id")
    body = error_body(code, message, request_id=request_id)
    headers = {"Connection": "close"} if status == 413 else None
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` (413) and JSON nested over ``max_json_depth``
    (422), with the standard error envelope."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    def _too_large_message(self) -> str:
        return f"Request body exceeds the limit of {self.max_bytes} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        numeric = declared is not None and declared.strip().isdigit()
        if numeric and int(declared or b"0") > self.max_bytes:
            await _reject(scope, receive, send, 413, "payload_too_large", self._too_large_message())
            return
        if scope["method"] not in _BODYLESS_METHODS and _is_json(scope):
            await self._buffered(scope, receive, send)
        else:
            await self._streamed(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole (JSON) body, check size and depth, then replay it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away mid-body: let the application see the disconnect.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reject(
                    scope, receive, send, 413, "payload_too_large", self._too_large_message()
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_too_deep(body, self.max_json_depth):
            await _reject(
                scope,
                receive,
                send,
                422,
                "validation_error",
                f"JSON nested deeper than {self.max_json_depth} levels is not accepted.",
            )
            return
        if json_has_lone_surrogate(body):
            await _reject(
                scope,
                receive,
                send,
                422,
                "validation_error",
                "Text must be valid Unicode: a lone surrogate escape (such as \\ud800) "
                "is not accepted.",
            )
            return
        replay: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replay], receive), send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the body through, counting bytes; stop reading once it is too large."""
        size = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge:
            if started:
                raise
            await _reject(scope, receive, send, 413, "payload_too_large", self._too_large_message())


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields ``messages`` first, then defers to the real one."""
    pending = list(messages)

    async def replaying() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying
