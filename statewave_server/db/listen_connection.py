"""A dedicated asyncpg connection for ``LISTEN``, which belongs to one session.

Shared by whoever listens (the memory-change listener, the workers' job wake-ups), so
the URL → asyncpg mapping and the reconnect policy live in one place. ``url`` must reach
PostgreSQL itself, never a transaction-mode pooler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import asyncpg
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

RECONNECT_SECONDS: Final = (0.5, 1.0, 2.0, 5.0)


async def connect_for_listening(
    url: str, *, application_name: str, connect_timeout: float
) -> asyncpg.Connection:
    """Open a plain asyncpg connection to ``url`` (a SQLAlchemy URL), named for
    ``pg_stat_activity``."""
    parsed = make_url(url)
    args, params = parsed.get_dialect()().create_connect_args(parsed)
    params.pop("prepared_statement_cache_size", None)  # a dialect option, not asyncpg's
    settings = {"application_name": application_name}
    connection: asyncpg.Connection = await asyncpg.connect(
        *args, timeout=connect_timeout, server_settings=settings, **params
    )
    return connection


async def keep_listening(
    listen_once: Callable[[], Awaitable[None]],
    *,
    lost_event: str,
    after_each: Callable[[], None] = lambda: None,
) -> None:
    """Run ``listen_once`` until cancelled, reconnecting with backoff after any failure;
    ``after_each`` runs whenever a connection ends (what was held may have gone unheard)."""
    failures = 0
    while True:
        try:
            await listen_once()
            failures = 0
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            log.warning(lost_event, error=str(error))
            failures += 1
        finally:
            after_each()
        await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
