"""Reads on a streaming replica without losing read-your-writes (``STATEWAVE_READ_DATABASE_URL``).

A routed read first asks the primary for its WAL flush position
(``pg_current_wal_flush_lsn()``: a commit is acknowledged only after its commit record
was flushed, so this position is at or past every write any process acknowledged
before the read started; with ``synchronous_commit = off`` a commit is acknowledged once
inserted, so then the insert position is used. The insert position alone would be
correct too, but it includes WAL nobody waits for, which the primary may leave
unflushed, and so unsent, for a while: reads would go to the primary). Then, on the
connection the read will use, it asks the replica whether it has replayed that far
(``pg_last_wal_replay_lsn()``). Only then does the read run there: replay only moves
forward and each statement of a read-committed transaction takes a fresh snapshot, so
every statement of the read sees all those writes. A replica that is behind gets up to
``read_replica_max_wait_ms`` to catch up, then the read goes to the primary. A replica
that cannot be reached (or is not a standby) is skipped for ``RETRY_SECONDS`` and reads
go to the primary meanwhile, never an error; the change of state is logged.

Cost: one trivial query on the replica per routed read, and one on the primary shared
by the reads that arrive while the previous one is in flight. Writes, the job queue,
locks and ``LISTEN`` never come here (they use ``Database.sessions``).
The in-memory retrieval indexes read their rows from the primary whenever they keep
them (``on_primary``): their protocol clears a row's change mark when it re-reads the
row, which on a replica could happen before the change is replayed, and the index would
then keep the old row.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

log = structlog.get_logger(__name__)

#: Anything that opens a session for ``async with``: a sessionmaker or a ``ReadRouter``.
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]

APPLICATION_NAME = "statewave-read"
RETRY_SECONDS = 5.0
POLL_SECONDS = 0.002


class NotAStandby(Exception):
    """The read URL reaches a server that is not replaying WAL (not a streaming replica)."""


_PRIMARY = "statewave.primary_sessions"  # session.info key: where index rows come from
#: What makes the replica unusable for now (the read then goes to the primary).
REPLICA_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    NotAStandby,
)
# A commit is acknowledged once its record is flushed, unless synchronous_commit is off
# (then once it is inserted): the position every acknowledged write lies within.
_PRIMARY_POSITION = text(
    "SELECT (CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text"
)
_BEHIND = text(
    "SELECT pg_wal_lsn_diff(CAST(CAST(:target AS text) AS pg_lsn), pg_last_wal_replay_lsn())"
)
_REPLAYED = text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:target AS text) AS pg_lsn)")


class _SharedPosition:
    """The primary's ``_PRIMARY_POSITION``, one query for all concurrent readers.

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
            return str(await autocommit.scalar(_PRIMARY_POSITION))


class ReadRouter:
    """Opens read sessions on the replica when it is caught up, else on the primary.

    ``replica_reads`` and ``primary_reads`` (by reason: ``behind``, ``unavailable``)
    count the decisions; ``unavailable`` is the reason the replica is being skipped."""

    def __init__(
        self,
        primary_engine: AsyncEngine,
        primary: async_sessionmaker[AsyncSession],
        replica: AsyncEngine,
        *,
        max_wait_seconds: float,
    ) -> None:
        self._primary = primary
        self._position = _SharedPosition(primary_engine)
        self._replica_engine = replica
        # Read committed whatever the server's default: each statement after the check
        # takes a fresh snapshot (one taken at the check could predate what it saw).
        committed = replica.execution_options(isolation_level="READ COMMITTED")
        self._replica = async_sessionmaker(committed, expire_on_commit=False)
        self._max_wait = max_wait_seconds
        self._skip_until = 0.0
        self.unavailable: str | None = None
        self.replica_reads = 0
        self.primary_reads: Counter[str] = Counter()

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._session()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        session = await self._choose()
        async with session:
            yield session

    async def _choose(self) -> AsyncSession:
        if time.monotonic() < self._skip_until:
            return self._on_primary("unavailable")
        target = await self._position.get()
        session = self._replica()
        try:
            caught_up = await self._replayed(session, target)
        except REPLICA_ERRORS as error:
            await session.close()
            self._skip(error)
            return self._on_primary("unavailable")
        except BaseException:  # cancelled: give the connection back
            await session.close()
            raise
        if self.unavailable is not None:  # it answered: reachable and replaying again
            log.info("read_replica_back", was=self.unavailable)
            self.unavailable = None
        if not caught_up:
            await session.close()
            return self._on_primary("behind")
        self.replica_reads += 1
        session.info[_PRIMARY] = self._primary
        return session

    async def _replayed(self, session: AsyncSession, target: str) -> bool:
        deadline = time.monotonic() + self._max_wait
        while True:
            replayed = await session.scalar(_REPLAYED, {"target": target})
            if replayed is None:
                raise NotAStandby("the read database is not in recovery (not a replica)")
            if replayed or time.monotonic() >= deadline:
                return bool(replayed)
            await asyncio.sleep(POLL_SECONDS)

    def _skip(self, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        if self.unavailable is None:
            log.warning("read_replica_unavailable", error=reason, retry_seconds=RETRY_SECONDS)
        self.unavailable = reason
        self._skip_until = time.monotonic() + RETRY_SECONDS

    def _on_primary(self, reason: str) -> AsyncSession:
        self.primary_reads[reason] += 1
        return self._primary()

    async def bytes_behind(self) -> int:
        """How far the replica's replay is behind the primary's WAL now (raises when the
        replica cannot be asked, ``NotAStandby`` when it is not replaying)."""
        target = await self._position.get()
        async with self._replica() as replica:
            behind = await replica.scalar(_BEHIND, {"target": target})
        if behind is None:
            raise NotAStandby("the read database is not in recovery (not a replica)")
        return max(0, int(behind))

    async def dispose(self) -> None:
        await self._replica_engine.dispose()

    def summary(self) -> str:
        """One line for ``/readyz``: the decisions so far, and why the replica is skipped."""
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.primary_reads.items()))
        line = f"{self.replica_reads} reads on the replica, on the primary: {counts or 'none'}"
        if self.unavailable is not None:
            line += f"; replica unavailable ({self.unavailable}), reading from the primary"
        return line


@asynccontextmanager
async def on_primary(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """``session`` itself, or a primary session when ``session`` reads from the replica."""
    primary: async_sessionmaker[AsyncSession] | None = session.info.get(_PRIMARY)
    if primary is None:
        yield session
        return
    async with primary() as fresh:
        yield fresh
