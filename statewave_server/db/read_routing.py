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
``read_replica_max_wait_ms`` to catch up, then the read goes to the primary (one that
received everything and is stuck on a record the primary flushed only in part gets that
record flushed, ``primary_wal.WalFlush``, and one more wait). A replica
that cannot be reached (or is not a standby) is skipped for ``RETRY_SECONDS`` and reads
go to the primary meanwhile, never an error; the change of state is logged.

Cost: one trivial query on the replica per routed read, and one on the primary shared
by the reads that arrive while the previous one is in flight. Writes, the job queue,
locks and ``LISTEN`` never come here (they use ``Database.primary``).
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

from statewave_server.db.primary_wal import SharedWalPosition, WalFlush

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
_BEHIND = text(
    "SELECT pg_wal_lsn_diff(CAST(CAST(:target AS text) AS pg_lsn), pg_last_wal_replay_lsn())"
)
# Replayed that far; where replay is (to tell stuck from slow); received that far.
_REPLAY_STATE = text(
    "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:target AS text) AS pg_lsn), "
    "pg_last_wal_replay_lsn()::text, "
    "coalesce(pg_last_wal_receive_lsn() >= CAST(CAST(:target AS text) AS pg_lsn), false)"
)


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
        self._position = SharedWalPosition(primary_engine)
        self._flush = WalFlush(primary_engine)
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
        """Polls until replayed or the wait is over. A replica that received everything
        but replayed nothing meanwhile is stuck on a half-flushed record
        (``primary_wal``): the primary flushes the rest, and it gets one more wait."""
        deadline = time.monotonic() + self._max_wait
        replay_at_start: str | None = None
        flushed = False
        while True:
            row = (await session.execute(_REPLAY_STATE, {"target": target})).one()
            replayed, replay, received = row
            if replayed is None:
                raise NotAStandby("the read database is not in recovery (not a replica)")
            if replayed:
                return True
            if replay_at_start is None:
                replay_at_start = replay
            if time.monotonic() >= deadline:
                stuck = received and replay == replay_at_start
                if flushed or not stuck or not await self._flush.request():
                    return False
                flushed = True
                deadline = time.monotonic() + self._max_wait
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
        if self._flush.count:
            line += f"; {self._flush.count} WAL flushes asked of the primary"
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
