"""The primary's side of replica reads: where its WAL is, and a flush when a replica is stuck.

``SharedWalPosition`` answers "how far must a replica have replayed to show every
acknowledged write", one query for all the reads that arrive together.

``WalFlush`` exists because that position can stop inside a WAL record. A record no
commit follows (on-access pruning, a hint bit's full-page image when checksums are on,
vacuum) is flushed by the WAL writer one whole page at a time, so the flush position can
be a page boundary with the rest of the record still in the primary's memory. The
replica receives the first part and cannot replay it, and stays "behind" until the next
commit anywhere flushes the rest. On a primary that only serves reads (which write such
records) that never comes. A flushed commit of our own ends the wait: a transactional
logical message (no table, executable by any role, ignored by logical-replication
consumers that do not ask for messages), committed with ``synchronous_commit = local``.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

#: At most one flush per process this often: a replica that is merely slow needs none.
FLUSH_INTERVAL_SECONDS = 1.0
# A commit is acknowledged once its record is flushed, unless synchronous_commit is off
# (then once it is inserted): the position every acknowledged write lies within.
_POSITION = text(
    "SELECT (CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text"
)
_FLUSH = (
    text("SET LOCAL synchronous_commit = local"),
    text("SELECT pg_logical_emit_message(true, 'statewave.read_routing', '')"),
)


class SharedWalPosition:
    """``_POSITION`` on the primary, one query for all concurrent readers.

    Only a query sent after a reader arrived vouches for the writes acknowledged before
    it arrived, so a reader joins the next query, never one already in flight (the same
    rule as ``MemoryChangeListener.heard_everything``)."""

    def __init__(self, primary: AsyncEngine) -> None:
        self._primary = primary
        self._next: asyncio.Future[str] | None = None
        self._queries: asyncio.Task[None] | None = None

    async def get(self) -> str:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._queries is None or self._queries.done():
            self._queries = asyncio.create_task(self._send(), name="primary-wal-position")
        return await asyncio.shield(waiting)

    async def _send(self) -> None:
        while self._next is not None:
            round_, self._next = self._next, None
            try:
                round_.set_result(await self._query())
            except asyncio.CancelledError:  # no waiter may wait forever
                round_.cancel()
                raise
            except Exception as error:  # e.g. the primary is down: every waiter hears it
                round_.set_exception(error)

    async def _query(self) -> str:
        # Autocommit: one round trip, no BEGIN and ROLLBACK around it.
        async with self._primary.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return str(await autocommit.scalar(_POSITION))


class WalFlush:
    """Flushes the primary's WAL with a commit of our own: shared by the reads that ask
    while one is in flight, at most once per ``FLUSH_INTERVAL_SECONDS``, and given up
    (with a warning) if the role may not run it."""

    def __init__(self, primary: AsyncEngine) -> None:
        self._primary = primary
        self._flushing: asyncio.Task[bool] | None = None
        self._next_allowed = 0.0
        self.refused: str | None = None
        self.count = 0

    async def request(self) -> bool:
        """True once the WAL written before the call is flushed, False if no flush ran."""
        if self._flushing is None or self._flushing.done():
            if self.refused is not None or time.monotonic() < self._next_allowed:
                return False
            self._next_allowed = time.monotonic() + FLUSH_INTERVAL_SECONDS
            self._flushing = asyncio.create_task(self._flush(), name="primary-wal-flush")
        return await asyncio.shield(self._flushing)

    async def _flush(self) -> bool:
        try:
            async with self._primary.begin() as connection:
                for statement in _FLUSH:
                    await connection.execute(statement)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                self.refused = str(error.orig).splitlines()[0][:300]
                log.warning("read_replica_flush_refused", error=self.refused)
            return False
        self.count += 1
        return True
