"""Rate limits per client IP: an in-process sliding window or PostgreSQL-shared windows.

The client is ``scope["client"]`` as :class:`~statewave_server.api.network.PeerMiddleware`
resolved it (the peer, or what a trusted proxy reports). The in-process limiter also
throttles wrong API keys (``api/security.py``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statewave_server.api.asgi import peer_host, reject
from statewave_server.db import rate_limits

log = structlog.get_logger("statewave.security")


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
    """Per-client-IP limit; ``exempt`` paths (health probes) are not counted; 429
    ``rate_limited`` with ``Retry-After``. Also closes the limiter when the application
    shuts down (lifespan).
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, exempt: frozenset[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or scope["path"] in self.exempt:
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


def build_rate_limiter(
    rpm: int,
    strategy: Literal["memory", "distributed"],
    database_url: str | Callable[[], str],
) -> RateLimiter | None:
    """The configured limiter, or None when ``rpm`` is 0."""
    if rpm <= 0:
        return None
    if strategy == "distributed":
        return DistributedRateLimiter(rpm, database_url)
    return MemoryRateLimiter(rpm)
