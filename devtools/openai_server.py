"""A real OpenAI-compatible HTTP server on loopback, with scripted replies, for LLM tests.

It listens on ``127.0.0.1`` (a free port) in a background thread and answers
``POST /v1/...`` with the next scripted ``Reply`` — or with whatever a ``responder``
function returns for the request, which is what concurrent callers need since their
request order is not fixed. Every request is recorded. Replies can be slow (to provoke
client timeouts) or HTTP errors.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: a JSON ``body`` (or ``raw`` text), a status and an optional delay."""

    status: int = 200
    body: Any = None
    raw: str | None = None
    delay: float = 0.0

    @classmethod
    def chat(cls, content: str | None, *, delay: float = 0.0, model: str = "test-model") -> Reply:
        """A chat completion whose first choice says ``content``."""
        return cls(
            body={
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
            delay=delay,
        )

    @classmethod
    def chat_json(cls, value: Any, *, delay: float = 0.0) -> Reply:
        """A chat completion whose content is ``value`` serialised as JSON."""
        return cls.chat(json.dumps(value), delay=delay)

    @classmethod
    def error(cls, status: int = 500, message: str = "internal error") -> Reply:
        """An OpenAI-style error body with the given HTTP status."""
        return cls(status=status, body={"error": {"message": message, "type": "server_error"}})


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def user_content(self) -> str:
        """The text of the last user message of a chat request ("" if none)."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        users = [m.get("content", "") for m in messages if m.get("role") == "user"]
        return str(users[-1]) if users else ""


Responder = Callable[[RecordedRequest], Reply]


@dataclass
class OpenAITestServer:
    """State shared with the handler threads; use ``running_openai_server()`` to start one."""

    responder: Responder | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give a client (includes ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order (unless a responder is set)."""
        with self._lock:
            self._queue.extend(replies)

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.responder is None and self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Reply.error(500, "no scripted reply left")

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _handler(state: OpenAITestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            request = RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            reply = state._answer(request)
            if reply.delay:
                state._wait(reply.delay)
            payload = (reply.raw if reply.raw is not None else json.dumps(reply.body)).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test): nothing left to answer

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean."""

    return Handler


@contextmanager
def running_openai_server() -> Iterator[OpenAITestServer]:
    """Start a server on a free loopback port; stop it (and wake slow replies) afterwards."""
    state = OpenAITestServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
        name="openai-test-server",
        daemon=True,
    )
    thread.start()
    try:
        yield state
    finally:
        state._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
