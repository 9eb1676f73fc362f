"""Low-level ASGI helpers shared by the edge middlewares of every face.

Reading a header, finding the peer, answering with the error envelope, and the scope
marks an outer gate leaves for :class:`~statewave_server.api.security.APIKeyMiddleware`
(how the console's login gate vouches for a request without naming the console here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from statewave_server.api.errors import error_body

API_KEY_HEADER: Final = b"x-api-key"

Vouch = Literal["authenticated", "credential_attempt"]
# ``authenticated``: an outer gate checked another credential (a console session cookie);
# ``credential_attempt``: the request presents a credential of its own (a login form),
# throttled and, on a 401 answer, counted as a failed attempt by the API key middleware.
_VOUCH_KEY: Final = "statewave_vouch"


async def reject(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer with the error envelope from a pure ASGI middleware."""
    request_id = scope.get("state", {}).get("request_id")
    body = error_body(code, message, request_id=request_id)
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (names are lower-case bytes)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def peer_host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def vouch(scope: Scope, how: Vouch) -> None:
    """Mark the request for the API key middleware further in (see :data:`Vouch`)."""
    scope.setdefault("state", {})[_VOUCH_KEY] = how


def vouched(scope: Scope) -> Vouch | None:
    how: Vouch | None = scope.get("state", {}).get(_VOUCH_KEY)
    return how
