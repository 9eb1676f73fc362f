"""All SQL for ``rate_limit_hits``: fixed-window counters shared by every API process.

Functions take the caller's connection or session and never commit. The limiter gets its
own tiny engine (:func:`create_rate_limit_engine`) so rate-limit queries can never take
connections the API needs.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from statewave_server.db.models import RateLimitHit

_POOL_SIZE = 2
_MAX_OVERFLOW = 1
_TIMEOUT_SECONDS = 2.0


def create_rate_limit_engine(url: str) -> AsyncEngine:
    """A small engine (2 + 1 connections, 2 s waits) reserved for the rate limiter."""
    return create_async_engine(
        url,
        pool_size=_POOL_SIZE,
        max_overflow=_MAX_OVERFLOW,
        pool_timeout=_TIMEOUT_SECONDS,
        pool_recycle=300,
        pool_pre_ping=False,
        connect_args={
            "timeout": _TIMEOUT_SECONDS,
            "server_settings": {
                "application_name": "statewave-ratelimit",
                "statement_timeout": str(int(_TIMEOUT_SECONDS * 1000)),
            },
        },
    )


async def record_hit(db: AsyncConnection | AsyncSession, key: str, window_start: int) -> int:
    """Count one hit for ``key`` in the window atomically; returns the window's new total."""
    stmt = (
        insert(RateLimitHit)
        .values(key=key, window_start=window_start, hit_count=1)
        .on_conflict_do_update(
            index_elements=[RateLimitHit.key, RateLimitHit.window_start],
            set_={"hit_count": RateLimitHit.hit_count + 1, "updated_at": func.now()},
        )
        .returning(RateLimitHit.hit_count)
    )
    result = await db.execute(stmt)
    return int(result.scalar_one())


async def delete_windows_before(db: AsyncConnection | AsyncSession, window_start: int) -> int:
    """Delete every counter whose window started before ``window_start``; returns the count."""
    result = await db.execute(delete(RateLimitHit).where(RateLimitHit.window_start < window_start))
    return int(getattr(result, "rowcount", 0) or 0)


class RateLimitCounter:
    """Window counters through a private engine, created lazily inside the running loop.

    Once per new window it also deletes windows older than ``keep_windows`` windows.
    """

    def __init__(self, url: str | Callable[[], str], keep_windows: int = 5) -> None:
        self._url = url
        self._keep_windows = keep_windows
        self._engine: AsyncEngine | None = None
        self._swept_window: int | None = None

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        """Record one hit and return the window's total (raises on any database error)."""
        if self._engine is None:
            url = self._url if isinstance(self._url, str) else self._url()
            self._engine = create_rate_limit_engine(url)
        async with self._engine.begin() as conn:
            count = await record_hit(conn, key, window_start)
            if self._swept_window != window_start:
                self._swept_window = window_start
                oldest = window_start - self._keep_windows * window_seconds
                await delete_windows_before(conn, oldest)
        return count

    async def aclose(self) -> None:
        """Dispose of the private engine (a later hit creates a new one)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
