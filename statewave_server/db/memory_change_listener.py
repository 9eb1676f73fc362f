"""Hearing other processes' memory writes: ``LISTEN`` on a dedicated connection.

While the connection is up, every committed change anywhere arrives here within
milliseconds (``memory_changes.announce``). While it is down, changes may be missed, so
the listener says so (``live`` is false and ``on_gap`` runs on every loss and every
reconnect): whoever caches must then stop trusting what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db.memory_changes import CHANNEL, MemoryChange, this_process

log = structlog.get_logger(__name__)

APPLICATION_NAME = "statewave-memory-listener"
HEALTH_CHECK_SECONDS = 15.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


class MemoryChangeListener:
    def __init__(
        self,
        engine: AsyncEngine,
        on_change: Callable[[MemoryChange], None],
        on_gap: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
    ) -> None:
        self._engine = engine
        self._on_change = on_change
        self._on_gap = on_gap
        self._connect_timeout = connect_timeout
        self.live = False

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff after any failure."""
        failures = 0
        while True:
            try:
                await self._listen_once()
                failures = 0
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                log.warning("memory_change_listener_lost", error=str(error))
                failures += 1
            finally:
                if self.live:
                    self.live = False
                    self._on_gap()
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])

    async def _listen_once(self) -> None:
        connection = await self._connect()
        closed = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: closed.set())
            await connection.add_listener(CHANNEL, self._heard)
            self.live = True
            self._on_gap()  # whatever happened before this moment was not heard
            log.info("memory_change_listener_live")
            while not closed.is_set():
                try:
                    await asyncio.wait_for(closed.wait(), HEALTH_CHECK_SECONDS)
                except TimeoutError:
                    await connection.execute("SELECT 1", timeout=self._connect_timeout)
        finally:
            if not connection.is_closed():
                connection.terminate()

    async def _connect(self) -> asyncpg.Connection:
        args, params = self._engine.dialect.create_connect_args(self._engine.url)
        params.pop("prepared_statement_cache_size", None)  # a dialect option, not asyncpg's
        settings = {"application_name": APPLICATION_NAME}
        connection: asyncpg.Connection = await asyncpg.connect(
            *args, timeout=self._connect_timeout, server_settings=settings, **params
        )
        return connection

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        change = MemoryChange.from_payload(payload)
        if change is None:
            self._on_gap()  # an unreadable change: assume anything changed
        elif change.origin != this_process():  # this process's own were delivered at commit
            self._on_change(change)
