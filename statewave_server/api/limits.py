"""Request body limits as pure ASGI middleware: size (413) and JSON nesting depth (422).

A body larger than ``max_bytes`` is refused with 413 ``payload_too_large`` — at once when
``Content-Length`` says so, otherwise as soon as the streamed bytes exceed the limit (a
chunked upload is never read past it). JSON bodies (``application/json``, ``+json`` or no
content type, as FastAPI parses them) are read here, checked for nesting deeper than
``max_json_depth`` (422 ``validation_error``: deep documents would otherwise exhaust the
parser's recursion limit) or holding a lone UTF-16 surrogate escape such as ``"\\ud800"``
(422: such text can be neither stored nor echoed back as UTF-8), and replayed to the
application unchanged.

Bodies must also arrive in time and not too many at once: a body not complete within
``timeout`` seconds gets 408 ``request_timeout``, and a body that does not arrive in one
piece needs one of ``max_uploads`` slots while it streams in (503 ``too_many_uploads``
otherwise). Both answers close the connection, so stalled uploads cannot pile up and pin
memory, while requests whose body is already there are served as usual.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.asgi import header, reject

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Whole documents: far below the parser's recursion limit, yet roomy enough that a
# payload at the field limit still fits inside an admin export/import document.
DEFAULT_MAX_JSON_DEPTH = 128
# A single client JSON field (an episode's payload, metadata, provenance).
MAX_FIELD_DEPTH = 64
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


DEFAULT_BODY_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_UPLOADS = 32


class BodyRefused(HTTPException):
    """A refusal raised from the wrapped ``receive``.

    An ``HTTPException`` so that FastAPI's body reading lets it through to the error
    handlers (envelope) instead of turning it into a 400 parse error. Each one closes the
    connection: the rest of the body is never read.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        detail = {"code": code, "message": message}
        super().__init__(status, detail=detail, headers={"Connection": "close", **(headers or {})})
        self.code, self.message = code, message


class PayloadTooLarge(BodyRefused):
    """The body is, or went past, the size limit."""

    def __init__(self, max_bytes: int) -> None:
        message = f"Request body exceeds the limit of {max_bytes} bytes."
        super().__init__(413, "payload_too_large", message)


class BodyTimeout(BodyRefused):
    """The body did not arrive within the time allowed."""

    def __init__(self, seconds: float) -> None:
        message = f"The request body did not arrive within {seconds:g} seconds."
        super().__init__(408, "request_timeout", message)


class TooManyUploads(BodyRefused):
    """Every upload slot is taken by a body still streaming in."""

    def __init__(self) -> None:
        message = "Too many request bodies are being uploaded at once; retry shortly."
        super().__init__(503, "too_many_uploads", message, {"Retry-After": "1"})


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


def _is_json(scope: Scope) -> bool:
    raw = header(scope, b"content-type")
    if raw is None:
        return True
    media = raw.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class _UploadSlots:
    """A non-blocking counter of bodies being received (one event loop, no lock needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self) -> None:
        if self.in_use >= self.limit:
            raise TooManyUploads()
        self.in_use += 1

    def give_back(self) -> None:
        self.in_use -= 1


class _BodyGate:
    """One request's body reception: every ``receive`` until the body is complete must
    answer before the deadline, and a body arriving in pieces holds an upload slot."""

    def __init__(self, receive: Receive, slots: _UploadSlots, timeout: float) -> None:
        self._receive = receive
        self._slots = slots
        self._timeout = timeout
        self._deadline = asyncio.get_running_loop().time() + timeout
        self._complete = False
        self._holding = False

    async def receive(self) -> Message:
        if self._complete:
            return await self._receive()  # e.g. waiting for a disconnect: not timed
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.release()
            raise BodyTimeout(self._timeout) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
            self.release()
        elif not self._holding:
            self._slots.take()
            self._holding = True
        return message

    def release(self) -> None:
        if self._holding:
            self._holding = False
            self._slots.give_back()


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` (413), JSON nested over ``max_json_depth`` (422),
    bodies slower than ``timeout`` (408) and uploads beyond ``max_uploads`` (503), with the
    standard error envelope."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
        timeout: float = DEFAULT_BODY_TIMEOUT_SECONDS,
        max_uploads: int = DEFAULT_MAX_UPLOADS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth
        self.timeout = timeout
        self._slots = _UploadSlots(max_uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        numeric = declared is not None and declared.strip().isdigit()
        if numeric and int(declared or b"0") > self.max_bytes:
            await _refuse(scope, receive, send, PayloadTooLarge(self.max_bytes))
            return
        gate = _BodyGate(receive, self._slots, self.timeout)
        try:
            if scope["method"] not in _BODYLESS_METHODS and _is_json(scope):
                await self._buffered(scope, gate.receive, send)
            else:
                await self._streamed(scope, gate.receive, send)
        finally:
            gate.release()

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole (JSON) body, check size and depth, then replay it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await receive()
            except BodyRefused as exc:
                await _refuse(scope, receive, send, exc)
                return
            if message["type"] != "http.request":
                # The client went away mid-body: let the application see the disconnect.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(scope, receive, send, PayloadTooLarge(self.max_bytes))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_too_deep(body, self.max_json_depth):
            too_deep = f"JSON nested deeper than {self.max_json_depth} levels is not accepted."
            await reject(scope, receive, send, 422, "validation_error", too_deep)
            return
        if json_has_lone_surrogate(body):
            lone = (
                "Text must be valid Unicode: a lone surrogate escape (such as \\ud800) "
                "is not accepted."
            )
            await reject(scope, receive, send, 422, "validation_error", lone)
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
        except BodyRefused as exc:
            if started:
                raise
            await _refuse(scope, receive, send, exc)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyRefused) -> None:
    """Answer a refusal with its envelope and headers (``Connection: close``)."""
    await reject(scope, receive, send, exc.status_code, exc.code, exc.message, exc.headers)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields ``messages`` first, then defers to the real one."""
    pending = list(messages)

    async def replaying() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying
