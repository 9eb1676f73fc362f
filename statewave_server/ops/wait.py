"""Wait for the database with backoff: what ``./start.sh`` does before migrating."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import text

from statewave_server.db.engine import create_engine
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.ops.wait")


async def wait_for_database(
    settings: Settings, url: str, *, attempts: int = 30, first_delay: float = 0.5
) -> bool:
    """Try ``SELECT 1`` up to ``attempts`` times, doubling the pause up to 5 s."""
    engine = create_engine(settings, url)
    delay = first_delay
    try:
        for attempt in range(1, attempts + 1):
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                log.info("database_reachable", attempt=attempt)
                return True
            except Exception as exc:  # any failure to connect means "not yet"
                log.warning("database_not_ready", attempt=attempt, error=str(exc)[:200])
                if attempt < attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        return False
    finally:
        await engine.dispose()
