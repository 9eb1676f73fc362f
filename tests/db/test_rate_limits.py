"""Rate-limit counters in PostgreSQL: atomic increments, cleanup, the limiter's own engine."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db import rate_limits

WINDOW = 60


async def _hit(engine: AsyncEngine, key: str, window_start: int) -> int:
    async with engine.begin() as conn:
        return await rate_limits.record_hit(conn, key, window_start)


async def test_concurrent_hits_get_distinct_consecutive_counts(engine: AsyncEngine) -> None:
    counts = await asyncio.gather(*(_hit(engine, "ip:concurrent", 6000) for _ in range(40)))
    assert sorted(counts) == list(range(1, 41))
    async with engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT hit_count FROM rate_limit_hits WHERE key = 'ip:concurrent'")
        )
    assert stored == 40


async def test_windows_and_keys_count_separately(engine: AsyncEngine) -> None:
    assert await _hit(engine, "ip:a", 12_000) == 1
    assert await _hit(engine, "ip:a", 12_000) == 2
    assert await _hit(engine, "ip:a", 12_060) == 1
    assert await _hit(engine, "ip:b", 12_000) == 1


async def test_increment_refreshes_updated_at(engine: AsyncEngine) -> None:
    await _hit(engine, "ip:touch", 18_000)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE rate_limit_hits SET updated_at = now() - interval '1 hour'"
                " WHERE key = 'ip:touch'"
            )
        )
    await _hit(engine, "ip:touch", 18_000)
    async with engine.connect() as conn:
        age = await conn.scalar(
            text(
                "SELECT now() - updated_at < interval '1 minute' FROM rate_limit_hits"
                " WHERE key = 'ip:touch'"
            )
        )
    assert age is True


async def test_delete_windows_before_keeps_recent_windows(engine: AsyncEngine) -> None:
    for start in (24_000, 24_060, 24_120):
        await _hit(engine, "ip:old", start)
    async with engine.begin() as conn:
        deleted = await rate_limits.delete_windows_before(conn, 24_060)
    assert deleted >= 1
    async with engine.connect() as conn:
        left = (
            (
                await conn.execute(
                    text("SELECT window_start FROM rate_limit_hits WHERE key = 'ip:old' ORDER BY 1")
                )
            )
            .scalars()
            .all()
        )
    assert left == [24_060, 24_120]


async def test_counter_uses_its_own_engine_and_sweeps_old_windows(
    db_url: str, engine: AsyncEngine
) -> None:
    await _hit(engine, "ip:stale", 30_000)
    counter = rate_limits.RateLimitCounter(lambda: db_url, keep_windows=5)
    try:
        assert await counter.hit("ip:fresh", 30_000 + 10 * WINDOW, WINDOW) == 1
        assert await counter.hit("ip:fresh", 30_000 + 10 * WINDOW, WINDOW) == 2
        async with engine.connect() as conn:
            stale = await conn.scalar(
                text("SELECT count(*) FROM rate_limit_hits WHERE key = 'ip:stale'")
            )
            app_names = (
                (
                    await conn.execute(
                        text(
                            "SELECT application_name FROM pg_stat_activity WHERE datname = "
                            "current_database()"
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert stale == 0
        assert "statewave-ratelimit" in app_names
    finally:
        await counter.aclose()


def test_rate_limit_engine_is_small_and_isolated() -> None:
    engine = rate_limits.create_rate_limit_engine("postgresql+asyncpg://u:p@localhost/db")
    pool = engine.pool
    assert pool.size() == 2  # type: ignore[attr-defined]
    assert pool._max_overflow == 1  # type: ignore[attr-defined]
    assert pool._timeout == 2.0  # type: ignore[attr-defined]
