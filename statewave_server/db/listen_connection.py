"""A dedicated asyncpg connection for ``LISTEN``, which belongs to one session.

Shared by whoever listens (the memory-change listener, the workers' job wake-ups), so
the URL → asyncpg mapping lives in one place. ``url`` must reach PostgreSQL itself,
never a transaction-mode pooler.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url


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
