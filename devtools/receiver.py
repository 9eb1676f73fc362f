"""A real HTTP webhook receiver on 127.0.0.1, served from a thread, that records requests.

It can fail the first N requests, answer every request with one status, or be "down"
(not listening: the port refuses connections) and come back up on the same port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.server import free_port


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and the status we answered."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["x-statewave-event-id"]


class Receiver:
    """Records every POST; answers ``status`` (default 200) unless told to fail."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._fail_next = 0
        self._fail_status = 503
        self._status = 200
        self._reply: tuple[bytes, dict[str, str]] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def fail_first(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._lock:
            self._fail_next, self._fail_status = count, status

    def always(self, status: int) -> None:
        """Answer every later request with ``status``."""
        with self._lock:
            self._status = status

    def reply_with(self, body: bytes, headers: dict[str, str]) -> None:
        """Send ``body`` with ``headers`` (e.g. ``Content-Encoding``) in every reply."""
        with self._lock:
            self._reply = (body, headers)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def accepted(self) -> list[Received]:
        """Requests answered with a 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def _answer(self) -> int:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                return self._fail_status
            return self._status

    def _record(self, received: Received) -> None:
        with self._lock:
            self._requests.append(received)

    def start(self) -> None:
        """Listen (again) on ``port``."""
        assert self._server is None, "already running"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver._answer()
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._record(Received(self.path, headers, body, status))
                reply = b'{"ok": true}' if status < 300 else b'{"error": "nope"}'
                extra: dict[str, str] = {}
                if receiver._reply is not None:
                    reply, extra = receiver._reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(5)
        self._server = self._thread = None


@contextmanager
def running_receiver(*, started: bool = True) -> Iterator[Receiver]:
    """A receiver for the block (``started=False``: down until ``start()`` is called)."""
    receiver = Receiver()
    if started:
        receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
