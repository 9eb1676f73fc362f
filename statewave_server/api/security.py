"""Edge security of the JSON API: who may call (API key), as which tenant, from which
origin (CORS policy lives in ``api/network.py``), and what the operator is told at startup.

The middlewares are put in order by the app factory (``statewave_server/app.py``), which
also installs the console's login gate (``console/gate.py``) just outside
:class:`APIKeyMiddleware`. Errors use the standard envelope (``api/errors.py``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.asgi import API_KEY_HEADER, header, peer_host, reject, vouched
from statewave_server.api.network import LOOPBACK_HOSTS
from statewave_server.api.rate_limit import MemoryRateLimiter
from statewave_server.db.models import DEFAULT_TENANT
from statewave_server.settings import Settings, blank_key_is_none

log = structlog.get_logger("statewave.security")

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/health", "/ready"})
PUBLIC_PATHS = HEALTH_PATHS | {"/", "/docs", "/redoc", "/openapi.json", "/favicon.ico"}
# The runbook's plain ``curl …/ops/migrations``: its seven keys reveal only revision ids.
# ``?verbose=true`` (history, lock holder's address, checksums) still needs the key.
MIGRATIONS_PATH = "/ops/migrations"


def is_public(scope: Scope) -> bool:
    """Paths served without ``X-API-Key``."""
    path = scope["path"]
    if path == MIGRATIONS_PATH:
        return b"verbose" not in scope.get("query_string", b"")
    return path in PUBLIC_PATHS


MAX_TENANT_LENGTH = 256


class SecuritySettings(BaseModel):
    """The slice of :class:`Settings` the edge middlewares need (see :func:`from_settings`)."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    tenant_header: str = Field(default="X-Tenant-ID", min_length=1)
    require_tenant: bool = False
    rate_limit_rpm: int = Field(default=0, ge=0)
    rate_limit_strategy: Literal["memory", "distributed"] = "memory"
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    auth_failure_limit: int = Field(default=10, ge=0)

    _no_blank_key = field_validator("api_key")(blank_key_is_none)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecuritySettings:
        """Copy the matching fields of the main settings (absent ones keep their defaults)."""
        return cls.model_validate(settings.model_dump(include=set(cls.model_fields)))

    @property
    def effective_allowed_hosts(self) -> tuple[str, ...]:
        """The configured hosts; unset: any with an API key, the loopback names without."""
        if self.allowed_hosts:
            return self.allowed_hosts
        return ("*",) if self.api_key is not None else LOOPBACK_HOSTS


def api_key_matches(provided: bytes, expected: bytes) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    return hmac.compare_digest(provided, expected)


class APIKeyMiddleware:
    """Requires ``X-API-Key`` (header only: query strings end up in logs) off public paths.

    An outer gate may vouch for a request (``api/asgi.py``): one it ``authenticated`` by
    another credential passes without the header; a ``credential_attempt`` (a login form)
    passes to its route, throttled like a key and counted as a failure when answered 401.

    Guessing is throttled per client IP: after ``failure_limit`` wrong keys (or failed
    logins) in a minute, every key attempt from that IP — right or wrong — gets
    429 ``too_many_auth_failures`` until the minute has passed, so it reveals nothing.
    """

    def __init__(self, app: ASGIApp, api_key: SecretStr | None, failure_limit: int = 10) -> None:
        self.app = app
        secret = api_key.get_secret_value() if api_key is not None else ""
        self._expected = secret.encode("utf-8") if secret else None
        self._failures = MemoryRateLimiter(failure_limit) if failure_limit > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._expected is None or scope["type"] != "http" or is_public(scope):
            await self.app(scope, receive, send)
            return
        provided = header(scope, API_KEY_HEADER)
        attempt = vouched(scope) == "credential_attempt"
        if (provided or attempt) and await self._throttled(scope, receive, send):
            return
        if attempt:
            await self.app(scope, receive, self._counting_failed_login(scope, send))
            return
        if not provided and vouched(scope) == "authenticated":
            await self.app(scope, receive, send)
            return
        if not provided:
            await reject(
                scope, receive, send, 401, "missing_api_key", "X-API-Key header is required."
            )
            return
        if not api_key_matches(provided, self._expected):
            log.warning("auth_failed", path=scope["path"], client=peer_host(scope))
            await self._count_failure(scope)
            await reject(scope, receive, send, 403, "invalid_api_key", "Invalid API key.")
            return
        await self.app(scope, receive, send)

    async def _throttled(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer 429 (and return True) while this client is over its failure limit."""
        if self._failures is None:
            return False
        decision = self._failures.peek(f"auth:{peer_host(scope)}")
        if decision.allowed:
            return False
        await reject(
            scope,
            receive,
            send,
            429,
            "too_many_auth_failures",
            "Too many failed authentication attempts from this address; retry later.",
            headers={"Retry-After": str(decision.retry_after)},
        )
        return True

    async def _count_failure(self, scope: Scope) -> None:
        if self._failures is not None:
            await self._failures.hit(f"auth:{peer_host(scope)}")

    def _counting_failed_login(self, scope: Scope, send: Send) -> Send:
        """A login form answers 401 to a wrong key: count it like one."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self._count_failure(scope)
            await send(message)

        return wrapped


class TenantMiddleware:
    """Resolves the tenant header into ``scope["state"]["tenant_id"]`` ('' when absent).

    The header must appear at most once: a gateway that appends the authenticated tenant
    must not be overridden by a copy the client sent first. ``required`` does not apply to
    the paths ``optional_on`` accepts (the console's pages, whose browser sends no tenant).
    """

    def __init__(
        self,
        app: ASGIApp,
        header: str = "X-Tenant-ID",
        required: bool = False,
        optional_on: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self.app = app
        self.header = header
        self._name = header.lower().encode("latin-1")
        self.required = required
        self.optional_on = optional_on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = header(scope, self._name) or b""
        tenant = _valid_tenant(raw)
        if scope["path"] not in PUBLIC_PATHS:
            if sum(1 for name, _ in scope["headers"] if name == self._name) > 1:
                await reject(
                    scope,
                    receive,
                    send,
                    400,
                    "duplicate_tenant",
                    f"{self.header} must be sent once.",
                )
                return
            if not raw and self.required and not self.optional_on(scope["path"]):
                await reject(
                    scope,
                    receive,
                    send,
                    400,
                    "missing_tenant",
                    f"{self.header} header is required.",
                )
                return
            if raw and tenant is None:
                await reject(
                    scope,
                    receive,
                    send,
                    400,
                    "invalid_tenant",
                    f"{self.header} must be 1-{MAX_TENANT_LENGTH} characters "
                    "without control characters.",
                )
                return
        scope.setdefault("state", {})["tenant_id"] = tenant or DEFAULT_TENANT
        await self.app(scope, receive, send)


def _valid_tenant(raw: bytes) -> str | None:
    """The tenant id in a header value, or None if it is not acceptable."""
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not 1 <= len(value) <= MAX_TENANT_LENGTH or value != value.strip():
        return None
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        return None
    return value


def announce_exposure(settings: SecuritySettings) -> None:
    """Say at startup who this server answers, loudly when it has no API key."""
    if settings.api_key is None:
        log.warning(
            "no_api_key_loopback_only",
            message="No STATEWAVE_API_KEY is set: answering loopback clients only "
            "(127.0.0.1, ::1), whatever address the server is bound to; set "
            "STATEWAVE_API_KEY to serve the network.",
            allowed_hosts=list(settings.effective_allowed_hosts),
        )
    else:
        log.info(
            "api_key_required",
            allowed_hosts=list(settings.effective_allowed_hosts),
            trusted_proxies=[str(net) for net in settings.trusted_proxies],
        )
    if "*" in settings.cors_origins:
        log.warning(
            "cors_wildcard",
            message="STATEWAVE_CORS_ORIGINS contains '*': any web page may call /v1 "
            "(never /admin, /ops or /console).",
        )
