"""Operator commands against a running server: only its URL and an API key, no database.

``statewave --url https://host:8100 --api-key KEY jobs list`` (or ``STATEWAVE_URL`` and
``STATEWAVE_API_KEY``) sends each command to the ``/admin`` API instead of opening the
database. A refused key, an unreachable host or an error answer is one line on stderr and
exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import typer

from statewave_server import __version__

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class Server:
    """Where remote commands go: the base URL and the key sent as ``X-API-Key``."""

    url: str
    api_key: str | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request; the decoded JSON answer. Failures exit 1 with a message."""
        headers = {"User-Agent": f"statewave-cli/{__version__}", **(headers or {})}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        sent = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            with httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT) as client:
                response = client.request(method, path, params=sent, json=body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            fail(f"cannot reach {self.url}: {reason(exc)}")
        if response.status_code in (401, 403):
            hint = "" if self.api_key else ": pass --api-key or set STATEWAVE_API_KEY"
            fail(f"{self.url} rejected the API key (HTTP {response.status_code}){hint}")
        if response.status_code >= 400:
            fail(f"{_error_message(response)} (HTTP {response.status_code})")
        return response.json()

    def page(
        self, path: str, key: str, params: dict[str, Any], limit: int, *, page_size: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` rows of a paged ``/admin`` listing (its ``key`` list), and its total."""
        rows: list[dict[str, Any]] = []
        total = 0
        while len(rows) < limit:
            size = min(page_size, limit - len(rows))
            answer = self.call("GET", path, params={**params, "limit": size, "offset": len(rows)})
            rows += answer[key]
            total = int(answer["total"])
            if len(answer[key]) < size:
                break
        return rows, total


def _error_message(response: httpx.Response) -> str:
    """The error envelope's message, or the start of whatever else came back."""
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or error.get("code"))
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase


def fail(message: str) -> NoReturn:
    """Print ``Error: message`` on stderr and exit 1."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def reason(exc: BaseException) -> str:
    """The root cause in a few words ("connection refused" rather than httpx's wording)."""
    seen: BaseException | None = exc
    for _ in range(16):  # a bounded walk: exception chains can, rarely, be cyclic
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    lines = str(exc).strip().splitlines()
    return lines[-1][:200] if lines else type(exc).__name__


# Set by the root command's options, read by every command that can go remote.
_SERVER: ContextVar[Server | None] = ContextVar("statewave_server", default=None)


def choose(url: str | None, api_key: str | None) -> None:
    """Remember the root options: with a URL, the commands that can go remote do."""
    _SERVER.set(Server(url.rstrip("/"), api_key or None) if url else None)


def current() -> Server | None:
    """The server this invocation talks to, or ``None`` for the configured database."""
    return _SERVER.get()


def read(path: str, locally: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``GET path`` on the server given with ``--url``, else ``locally()`` on the configured
    database (which returns the same API shape)."""
    server = current()
    if server is None:
        return locally()
    found: dict[str, Any] = server.call("GET", path)
    return found
