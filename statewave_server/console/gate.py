"""The console's login gate: on ``/console`` paths a session cookie stands in for the key.

Installed by the app factory just outside the API key middleware (``api/security.py``). A
console request without ``X-API-Key`` either carries a valid session (``console/auth.py``)
and is vouched for, or is sent to the login form (page loads) or refused 401 (form posts).
The login form's own POST is vouched as a credential attempt, so wrong keys typed into
it are throttled and counted exactly like wrong ``X-API-Key`` headers.
"""

from __future__ import annotations

from urllib.parse import urlencode

import structlog
from pydantic import SecretStr
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from statewave_server.api.asgi import API_KEY_HEADER, header, peer_host, reject, vouch
from statewave_server.console import auth

log = structlog.get_logger("statewave.security")


class ConsoleGateMiddleware:
    """Session cookie or login form for console paths; every other path passes untouched."""

    def __init__(self, app: ASGIApp, api_key: SecretStr | None) -> None:
        self.app = app
        secret = api_key.get_secret_value() if api_key is not None else ""
        self._expected = secret.encode("utf-8") if secret else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if self._expected is None or scope["type"] != "http" or not auth.is_console_path(path):
            await self.app(scope, receive, send)
            return
        if path == auth.LOGIN_PATH and scope["method"] == "POST":
            vouch(scope, "credential_attempt")
            await self.app(scope, receive, send)
            return
        if header(scope, API_KEY_HEADER):  # the API key middleware checks it
            await self.app(scope, receive, send)
            return
        cookies = cookie_parser((header(scope, b"cookie") or b"").decode("latin-1"))
        token = cookies.get(auth.SESSION_COOKIE)
        if auth.is_console_public(path) or auth.session_valid(token, self._expected):
            vouch(scope, "authenticated")
            await self.app(scope, receive, send)
            return
        if token:
            log.warning("console_session_rejected", path=path, client=peer_host(scope))
        if scope.get("method") in ("GET", "HEAD"):
            query = scope.get("query_string")
            target = path + (f"?{query.decode('latin-1')}" if query else "")
            login = f"{auth.LOGIN_PATH}?{urlencode({'next': target})}"
            await RedirectResponse(login, status_code=303)(scope, receive, send)
            return
        await reject(
            scope, receive, send, 401, "missing_api_key", "Console session or X-API-Key required."
        )
