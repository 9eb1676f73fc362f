"""Async engine and session factory, built from settings.

Behind a transaction-mode pooler (``STATEWAVE_DATABASE_POOLED``; PgBouncer's
``pool_mode = transaction``) each transaction may run on another server connection, so
the engine keeps no prepared statements across them (asyncpg's statement cache off,
one-off statement names) and sends no startup parameters the pooler would refuse
(set ``statement_timeout`` in the pooler's ``connect_query`` or on the role instead).
What needs a session of its own (``LISTEN``, advisory locks held across statements)
connects to ``STATEWAVE_DIRECT_DATABASE_URL`` instead (``session_url``). Reads that may
be served by a streaming replica (``STATEWAVE_READ_DATABASE_URL``) open their sessions
with ``Database.reads`` (``db/read_routing.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from statewave_server.db import read_routing
from statewave_server.db.embedded import release_embedded_postgres, start_embedded_postgres
from statewave_server.db.urls import to_async_url
from statewave_server.settings import Settings

APPLICATION_NAME = "statewave"


@lru_cache(maxsize=8)
def _embedded_url(data_dir: str) -> str:
    from pathlib import Path

    return start_embedded_postgres(Path(data_dir))


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on first use in this process)."""
    if settings.database_url:
        return to_async_url(settings.database_url)
    return _embedded_url(str(settings.data_dir))


def release_database(settings: Settings) -> None:
    """Undo :func:`resolve_database_url`'s start of the embedded server, if it started one."""
    if settings.database_url:
        return
    _embedded_url.cache_clear()
    release_embedded_postgres(settings.data_dir)


def session_url(settings: Settings, url: str | None = None) -> str | None:
    """Where session-bound work connects: the direct URL when set, else the database URL
    (``url``, or the configured one) unless that goes through a pooler (``None``: no
    session-bound work is possible)."""
    if settings.direct_database_url:
        return to_async_url(settings.direct_database_url)
    if settings.database_pooled:
        return None
    return url or resolve_database_url(settings)


def _one_off_name() -> str:
    return f"__statewave_{uuid.uuid4().hex}__"


def _connect_args(settings: Settings, application_name: str) -> dict[str, Any]:
    if settings.database_pooled:
        return {
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_command_timeout_seconds,
            "statement_cache_size": 0,  # asyncpg's cache, and SQLAlchemy's below
            "prepared_statement_cache_size": 0,
            # A named statement outlives its transaction on a pooled server connection
            # another client may get next: never reuse a name.
            "prepared_statement_name_func": _one_off_name,
            "server_settings": {"application_name": application_name},
        }
    return {
        "timeout": settings.db_connect_timeout_seconds,
        # A frozen server never cancels its own statements: bound them client-side too.
        "command_timeout": settings.db_command_timeout_seconds,
        "server_settings": {
            "application_name": application_name,
            "statement_timeout": str(settings.db_statement_timeout_ms),
            # Reused prepared statements would otherwise switch to a generic plan that
            # assumes a one-row subject (measured 1.8x slower full-text search).
            "plan_cache_mode": "force_custom_plan",
        },
    }


def create_engine(
    settings: Settings, url: str | None = None, *, application_name: str = APPLICATION_NAME
) -> AsyncEngine:
    """An engine whose connects and statements are bounded, so outages fail fast."""
    return create_async_engine(
        url or resolve_database_url(settings),
        echo=settings.database_echo,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=300,
        connect_args=_connect_args(settings, application_name),
    )


@dataclass(frozen=True)
class Database:
    """The engine and its session factories: one per process, passed to whoever needs it.
    ``primary``: sessions on the primary (every write, lock and read-your-write);
    ``reads`` (below): sessions for reads that may run on the replica.
    ``listen_url``: where session-bound connections go (``None``: nowhere).
    ``replica``: routes reads to the read replica, when one is configured."""

    engine: AsyncEngine
    primary: async_sessionmaker[AsyncSession]
    listen_url: str | None = None
    replica: read_routing.ReadRouter | None = None

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> Database:
        engine = create_engine(settings, url)
        db = async_sessionmaker(engine, expire_on_commit=False)
        replica = None
        if settings.read_database_url:
            replica = read_routing.ReadRouter(
                engine,
                db,
                create_engine(
                    settings,
                    to_async_url(settings.read_database_url),
                    application_name=read_routing.APPLICATION_NAME,
                ),
                max_wait_seconds=settings.read_replica_max_wait_ms / 1000,
            )
        return cls(engine, db, session_url(settings, url), replica)

    @property
    def reads(self) -> read_routing.SessionFactory:
        """Sessions for reads that may run on the replica (read-only work only)."""
        return self.replica if self.replica is not None else self.primary

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()
