"""Hearing other processes' memory writes: ``LISTEN`` on a dedicated connection.

While the connection is up, every committed change anywhere arrives here within
milliseconds (``memory_changes.announce``). While it is down, changes may be missed, so
the listener says so (``live`` is false and ``on_gap`` runs on every loss and every
reconnect): whoever caches must then stop trusting what it holds.

"Within milliseconds" is not enough for a reader that starts right after another
process acknowledged a write, so ``heard_everything`` closes the gap with a round trip
on the same connection (a ``SELECT 1``, no table touched). PostgreSQL guarantees the
ordering that makes this exact: a committing writer queues its notification and
signals every listening backend before its ``COMMIT`` returns (so before any client
learns of the write); a listening backend delivers every queued notification of a
committed transaction before it answers its next query (it checks for the signal before
each ``ReadyForQuery``); and asyncpg runs notification callbacks in arrival order,
before the query's waiter resumes. So once a round trip sent after a read started has
come back, every change committed before the read started has been delivered.
Concurrent readers share one round trip (one in flight at a time, the next one collects
everyone who arrived meanwhile), so the listener connection is never a queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from statewave_server.db.listen_connection import connect_for_listening, keep_listening
from statewave_server.db.memory_changes import CHANNEL, MemoryChange, this_process

log = structlog.get_logger(__name__)

APPLICATION_NAME = "statewave-memory-listener"
HEALTH_CHECK_SECONDS = 15.0


class MemoryChangeListener:
    def __init__(
        self,
        url: str,
        on_change: Callable[[MemoryChange], None],
        on_gap: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
        round_trip_timeout: float = 2.0,
    ) -> None:
        """``url`` must reach PostgreSQL itself, never a transaction-mode pooler:
        ``LISTEN`` belongs to one session."""
        self._url = url
        self._on_change = on_change
        self._on_gap = on_gap
        self._connect_timeout = connect_timeout
        self._round_trip_timeout = round_trip_timeout
        self._connection: asyncpg.Connection | None = None
        self._next_round: asyncio.Future[bool] | None = None
        self._rounds: asyncio.Task[None] | None = None
        self.live = False

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff after any failure."""
        await keep_listening(
            self._listen_once, lost_event="memory_change_listener_lost", after_each=self._lost
        )

    def _lost(self) -> None:
        if self.live:
            self.live = False
            self._on_gap()

    async def heard_everything(self) -> bool:
        """Wait until every change committed before this call has been delivered to
        ``on_change``; false when that cannot be vouched for (not live, or the round
        trip failed: the connection is then dropped and ``on_gap`` runs)."""
        if not self.live:
            return False
        if self._next_round is None:
            # Joined before it is sent: only a round trip sent after the caller arrived
            # proves anything about writes acknowledged before the caller arrived.
            self._next_round = asyncio.get_running_loop().create_future()
        waiting = self._next_round
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.create_task(self._send_rounds(), name="memory-change-rounds")
        return await asyncio.shield(waiting)

    async def _send_rounds(self) -> None:
        while self._next_round is not None:
            round_, self._next_round = self._next_round, None
            heard = False
            try:
                heard = await self._round_trip()
            finally:  # even when cancelled: no reader may wait forever
                round_.set_result(heard)

    async def _round_trip(self) -> bool:
        connection = self._connection
        if connection is None or not self.live:
            return False
        try:
            await connection.execute("SELECT 1", timeout=self._round_trip_timeout)
        except Exception as error:  # whatever went wrong, nothing can be vouched for
            log.warning("memory_change_listener_round_trip_failed", error=repr(error))
            connection.terminate()  # half-open or broken: reconnect, trust nothing meanwhile
            return False
        return self.live

    async def _listen_once(self) -> None:
        connection = await self._connect()
        closed = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: closed.set())
            await connection.add_listener(CHANNEL, self._heard)
            self._connection = connection
            self.live = True
            self._on_gap()  # whatever happened before this moment was not heard
            log.info("memory_change_listener_live")
            while not closed.is_set():
                try:
                    await asyncio.wait_for(closed.wait(), HEALTH_CHECK_SECONDS)
                except TimeoutError:
                    await self.heard_everything()  # a failed round trip closes the connection
        finally:
            self._connection = None
            if not connection.is_closed():
                connection.terminate()

    async def _connect(self) -> asyncpg.Connection:
        return await connect_for_listening(
            self._url, application_name=APPLICATION_NAME, connect_timeout=self._connect_timeout
        )

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        change = MemoryChange.from_payload(payload)
        if change is None:
            self._on_gap()  # an unreadable change: assume anything changed
        elif change.origin != this_process():  # this process's own were delivered at commit
            self._on_change(change)
