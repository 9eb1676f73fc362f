"""Edge security as pure ASGI middleware: peer, CORS, hosts, API key, rate limits, tenant.

:func:`install_security` puts them in the order peer → CORS → request context → allowed
hosts → loopback-only (no API key) → auth → rate limit → tenant → routes, so requests
refused at the edge are never counted by the limiter. Errors use the standard envelope
(``api/errors.py``); the network policy itself lives in ``api/network.py``.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import structlog
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware import Middleware
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.middleware import RequestContextMiddleware
from statewave_server.api.network import (
    LOOPBACK_HOSTS,
    AllowedHostsMiddleware,
    LoopbackOnlyMiddleware,
    PeerMiddleware,
    cors_middleware,
    header,
    peer_host,
    reject,
)
from statewave_server.console import auth as console_auth
from statewave_server.db import rate_limits
from statewave_server.db.models import DEFAULT_TENANT
from statewave_server.settings import Settings, blank_key_is_none

log = structlog.get_logger("statewave.security")

_REQUEST_CONTEXT: Any = RequestContextMiddleware
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/health", "/ready"})
PUBLIC_PATHS = HEALTH_PATHS | {"/", "/docs", "/redoc", "/openapi.json"}
# The runbook's plain ``curl …/ops/migrations``: its seven keys reveal only revision ids.
# ``?verbose=true`` (history, lock holder's address, checksums) still needs the key.
MIGRATIONS_PATH = "/ops/migrations"


def is_public(scope: Scope) -> bool:
    """Paths served without ``X-API-Key``."""
    path = scope["path"]
    if path == MIGRATIONS_PATH:
        return b"verbose" not in scope.get("query_string", b"")
    return path in PUBLIC_PATHS


API_KEY_HEADER = b"x-api-key"
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

    On ``/console`` paths only, a valid console session cookie (``console/auth.py``, issued
    by the console login form) stands in for a missing header; without either, console
    page loads are redirected to the login form.

    Guessing is throttled per client IP: after ``failure_limit`` wrong keys (or failed
    console logins) in a minute, every key attempt from that IP — right or wrong — gets
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
        login = scope["path"] == console_auth.LOGIN_PATH and scope["method"] == "POST"
        if (provided or login) and await self._throttled(scope, receive, send):
            return
        if login:
            await self.app(scope, receive, self._counting_failed_login(scope, send))
            return
        if not provided and console_auth.is_console_path(scope["path"]):
            await self._console(scope, receive, send, self._expected)
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
        """The console login form answers 401 to a wrong key: count it like one."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self._count_failure(scope)
            await send(message)

        return wrapped

    async def _console(self, scope: Scope, receive: Receive, send: Send, expected: bytes) -> None:
        """A console request without ``X-API-Key``: the session cookie or the login form."""
        path = scope["path"]
        cookies = cookie_parser((header(scope, b"cookie") or b"").decode("latin-1"))
        token = cookies.get(console_auth.SESSION_COOKIE)
        if console_auth.is_console_public(path) or console_auth.session_valid(token, expected):
            await self.app(scope, receive, send)
            return
        if token:
            log.warning("console_session_rejected", path=path, client=peer_host(scope))
        if scope.get("method") in ("GET", "HEAD"):
            target = path + (
                f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
            )
            login = f"{console_auth.LOGIN_PATH}?{urlencode({'next': target})}"
            await RedirectResponse(login, status_code=303)(scope, receive, send)
            return
        await reject(
            scope, receive, send, 401, "missing_api_key", "Console session or X-API-Key required."
        )


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0


class RateLimiter(Protocol):
    rpm: int

    async def hit(self, key: str) -> RateDecision:
        """Count one request for ``key`` and say whether it may proceed."""
        ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Per-process sliding window; rejected requests are not counted."""

    def __init__(
        self, rpm: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rpm, self.window, self.clock = rpm, window, clock
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = 0.0

    async def hit(self, key: str) -> RateDecision:
        decision = self.peek(key)
        if decision.allowed:
            self._hits.setdefault(key, deque()).append(self.clock())
        return decision

    def peek(self, key: str) -> RateDecision:
        """Whether ``key`` may proceed now, without counting it."""
        now = self.clock()
        self._sweep(now)
        hits = self._hits.get(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if hits is not None and len(hits) >= self.rpm:
            return RateDecision(False, int(self.window - (now - hits[0])) + 1)
        return RateDecision(True)

    def _sweep(self, now: float) -> None:
        """Forget idle clients once per window so memory stays bounded."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]

    async def aclose(self) -> None:
        self._hits.clear()


class DistributedRateLimiter:
    """Fixed windows counted in PostgreSQL, shared by every API process; fails open.

    ``url`` (a string, or a callable resolved on first use) is reached through the
    limiter's own small engine. After a store error it allows everything for a few seconds.
    """

    FAIL_OPEN_PAUSE = 5.0

    def __init__(
        self,
        rpm: int,
        url: str | Callable[[], str],
        window: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rpm, self.window, self.clock = rpm, window, clock
        self._counter = rate_limits.RateLimitCounter(url, keep_windows=5)
        self._paused_until = 0.0

    async def hit(self, key: str) -> RateDecision:
        now = self.clock()
        if now < self._paused_until:
            return RateDecision(True)
        window_start = math.floor(now / self.window) * self.window
        try:
            async with asyncio.timeout(3.0):
                count = await self._counter.hit(key, window_start, self.window)
        except (SQLAlchemyError, OSError, TimeoutError, LookupError) as exc:
            self._paused_until = now + self.FAIL_OPEN_PAUSE
            log.warning(
                "rate_limit_store_unavailable",
                error_type=type(exc).__name__,
                error=str(exc)[:200],
                action="allowing requests (fail open)",
                hint="check the rate-limit table and the database connection",
            )
            return RateDecision(True)
        if count <= self.rpm:
            return RateDecision(True)
        return RateDecision(False, max(1, int(self.window - (now - window_start))))

    async def aclose(self) -> None:
        await self._counter.aclose()


class RateLimitMiddleware:
    """Per-client-IP limit; health probes exempt; 429 ``rate_limited`` with ``Retry-After``.

    The client is ``scope["client"]`` as :class:`PeerMiddleware` resolved it. Also closes
    the limiter when the application shuts down (lifespan).
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit(f"ip:{peer_host(scope)}"[:256])
        if not decision.allowed:
            await reject(
                scope,
                receive,
                send,
                429,
                "rate_limited",
                f"Rate limit exceeded. Max {self.limiter.rpm} requests per minute.",
                headers={"Retry-After": str(decision.retry_after)},
            )
            return
        await self.app(scope, receive, send)

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.limiter.aclose()
            await send(message)

        return wrapped


class TenantMiddleware:
    """Resolves the tenant header into ``scope["state"]["tenant_id"]`` ('' when absent).

    The header must appear at most once: a gateway that appends the authenticated tenant
    must not be overridden by a copy the client sent first.
    """

    def __init__(self, app: ASGIApp, header: str = "X-Tenant-ID", required: bool = False) -> None:
        self.app = app
        self.header = header
        self._name = header.lower().encode("latin-1")
        self.required = required

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
            if not raw and self.required and not console_auth.is_console_path(scope["path"]):
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


def build_rate_limiter(
    settings: SecuritySettings, database_url: str | Callable[[], str]
) -> RateLimiter | None:
    """The configured limiter, or None when ``rate_limit_rpm`` is 0."""
    if settings.rate_limit_rpm <= 0:
        return None
    if settings.rate_limit_strategy == "distributed":
        return DistributedRateLimiter(settings.rate_limit_rpm, database_url)
    return MemoryRateLimiter(settings.rate_limit_rpm)


def _app_database_url(app: Any) -> Callable[[], str]:
    def resolve() -> str:
        database = app.state.database
        if database is None:
            raise LookupError("the application's database is not initialised yet")
        return str(database.engine.url.render_as_string(hide_password=False))

    return resolve


def install_security(
    app: Any, settings: SecuritySettings, *, limiter: RateLimiter | None = None
) -> RateLimiter | None:
    """Add the peer, CORS, host, loopback, auth, rate-limit and tenant middleware around
    the request context (see the module docstring for the order).

    The distributed limiter reaches the app's database URL lazily (after the lifespan has
    resolved it) through its own small engine. Returns the limiter in use (also on
    ``app.state.rate_limiter``).
    """
    limiter = limiter or build_rate_limiter(settings, _app_database_url(app))
    inner = [Middleware(AllowedHostsMiddleware, allowed=settings.effective_allowed_hosts)]
    if settings.api_key is None:
        inner.append(Middleware(LoopbackOnlyMiddleware))
    inner.append(
        Middleware(
            APIKeyMiddleware,
            api_key=settings.api_key,
            failure_limit=settings.auth_failure_limit,
        )
    )
    if limiter is not None:
        inner.append(Middleware(RateLimitMiddleware, limiter=limiter))
    inner.append(
        Middleware(
            TenantMiddleware, header=settings.tenant_header, required=settings.require_tenant
        )
    )
    stack: list[Middleware] = app.user_middleware  # outermost first
    position = next((i + 1 for i, m in enumerate(stack) if m.cls is _REQUEST_CONTEXT), len(stack))
    stack[position:position] = inner
    if settings.cors_origins:
        stack.insert(0, Middleware(cors_middleware, origins=settings.cors_origins))
    stack.insert(0, Middleware(PeerMiddleware, trusted_proxies=settings.trusted_proxies))
    app.state.rate_limiter = limiter
    return limiter


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
