"""Where the database stands against this app version's migration window.

"Compatible" means the DB revision lies in the matrix window [min compatible, expected
head] of the app version; every function here answers within a timeout and reports a
database outage in ``error`` instead of raising, so health endpoints stay truthful.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, PrivateAttr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from statewave_server import __version__
from statewave_server.db.migration_audit import AUDIT_TABLE, MIGRATION_LOCK_KEY, file_checksum
from statewave_server.db.urls import to_async_url
from statewave_server.ops.matrix import Chain, MatrixRow, load_chain, release_introducing, row_for
from statewave_server.ops.schema_check import describe as describe_shape
from statewave_server.ops.schema_check import inspect_shape

UP_TO_DATE = "Schema is up to date"
UNREACHABLE = "Database unreachable"
DEFAULT_TIMEOUT_SECONDS = 5.0
_HISTORY_LIMIT = 200

# What a failed or refused database call can raise: reported, never propagated.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class MigrationStatus(BaseModel):
    """The seven fields of ``GET /ops/migrations`` (and of the runbook's example)."""

    current_revision: str | None
    expected_head: str | None
    is_compatible: bool
    pending_count: int | None  # None: not known (database down, foreign schema)
    pending_revisions: list[str]
    error: str | None
    summary: str
    # Not on the wire: below the minimum revision, or not our schema at all.
    _unusable: bool = PrivateAttr(default=False)

    @property
    def unusable(self) -> bool:
        """The data plane must not run on it (routes answer 503, workers claim nothing).

        A database *ahead* of this version (a newer release migrated it) is incompatible
        but not unusable: an additive newer schema still has everything this code uses (the
        shape check verifies it), and the old version may be draining while the new one
        starts. An unreachable database is an outage, not a schema problem.
        """
        return self._unusable


class AuditEntry(BaseModel):
    revision: str
    direction: str
    applied_at: datetime
    app_version: str
    duration_ms: int
    checksum: str


class LockHolder(BaseModel):
    """The session holding the migration advisory lock (a running ``alembic upgrade``)."""

    pid: int
    application_name: str | None
    client_addr: str | None
    backend_start: datetime | None
    state: str | None


class ChecksumDrift(BaseModel):
    """An applied revision whose file no longer matches what was recorded when applied."""

    revision: str
    recorded_checksum: str
    current_checksum: str


class MigrationDetails(BaseModel):
    """The ``?verbose=true`` extras."""

    history: list[AuditEntry]
    matrix: dict[str, str]
    lock_holder: LockHolder | None
    checksum_drift: list[ChecksumDrift]


def evaluate(current: str | None, *, chain: Chain, row: MatrixRow) -> MigrationStatus:
    """Place a DB revision (None = fresh DB) in the window of ``row``; pure, no I/O."""
    ids = chain.ids
    head = chain.resolve(row.expected_head)
    head_at = chain.index(head)
    current_at = -1 if current is None or current not in ids else chain.index(current)
    if current is not None and (current_at == -1 or current_at > head_at):
        return failed(
            _newer_message(current, chain, row, head), expected_head=head, current=current
        )
    pending = ids[current_at + 1 : head_at + 1]
    compatible = current_at >= chain.index(chain.resolve(row.min_compatible))
    status = MigrationStatus(
        current_revision=current,
        expected_head=head,
        is_compatible=compatible,
        pending_count=len(pending),
        pending_revisions=pending,
        error=None,
        summary=_summary(current, head, pending, compatible),
    )
    status._unusable = not compatible
    return status


def failed(
    error: str,
    *,
    expected_head: str | None,
    current: str | None = None,
    unusable: bool = False,
) -> MigrationStatus:
    """A status carrying an error: never compatible, what is pending is not known."""
    status = MigrationStatus(
        current_revision=current,
        expected_head=expected_head,
        is_compatible=False,
        pending_count=None,
        pending_revisions=[],
        error=error,
        summary=f"ERROR: {error}",
    )
    status._unusable = unusable
    return status


def _summary(current: str | None, head: str, pending: list[str], compatible: bool) -> str:
    if not pending:
        return UP_TO_DATE
    delta = f"{len(pending)} pending migration(s): {current or 'none (fresh database)'} → {head}"
    return f"Schema is compatible; {delta}" if compatible else delta


def _newer_message(current: str, chain: Chain, row: MatrixRow, head: str) -> str:
    """Why this version cannot use the DB, and which release must downgrade it."""
    known = release_introducing(current, chain) if current in chain.ids else None
    if known is None:
        where = (
            f"Database revision '{current}' is unknown to Statewave {row.app_version} (not in "
            "its migration chain): a newer release migrated it"
        )
        release = "that newer release"
    else:
        release = f"Statewave {known}"
        where = f"Database is ahead of Statewave {row.app_version}: '{current}' is from {release}"
    return f"{where}. Downgrade it with {release} (`alembic downgrade {head}`) first."


def describe_error(exc: BaseException, timeout: float) -> str:
    """A short, single-line reason for a failed database call."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's own words, without SQLAlchemy's wrapping
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def unreachable_message(exc: BaseException, timeout: float) -> str:
    return f"{UNREACHABLE}: {describe_error(exc, timeout)}"


@asynccontextmanager
async def connect(
    target: str | AsyncEngine, timeout_seconds: float
) -> AsyncIterator[AsyncConnection]:
    """A connection from an engine, or from a throwaway engine built for a URL."""
    if isinstance(target, AsyncEngine):
        async with target.connect() as conn:
            yield conn
        return
    engine = create_async_engine(
        to_async_url(target), poolclass=NullPool, connect_args={"timeout": timeout_seconds}
    )
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def _exists(conn: AsyncConnection, table: str) -> bool:
    found = await conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})
    return bool(found)


async def read_status(conn: AsyncConnection, *, chain: Chain, row: MatrixRow) -> MigrationStatus:
    """The revision placed in ``row``'s window, unless the tables say the schema is not ours
    (the original 0.6.1 writes our head id over a different schema)."""
    known = frozenset(chain.ids)
    shape = await conn.run_sync(lambda sync: inspect_shape(sync, head=chain.ids[-1], known=known))
    foreign = describe_shape(shape)
    if foreign is not None:
        head = chain.resolve(row.expected_head)
        return failed(foreign, expected_head=head, current=shape.revision, unusable=True)
    return evaluate(shape.revision, chain=chain, row=row)


async def read_details(
    conn: AsyncConnection, *, current: str | None, chain: Chain, row: MatrixRow
) -> MigrationDetails:
    """History, lock holder and checksum drift as seen through one connection."""
    history = await _read_history(conn)
    return MigrationDetails(
        history=history,
        matrix=row.resolved(chain),
        lock_holder=await read_lock_holder(conn),
        checksum_drift=checksum_drift(history, current=current, chain=chain),
    )


async def _read_history(conn: AsyncConnection) -> list[AuditEntry]:
    if not await _exists(conn, AUDIT_TABLE):
        return []
    rows = await conn.execute(
        text(
            "SELECT revision, direction, applied_at, app_version, duration_ms, checksum "
            f"FROM {AUDIT_TABLE} ORDER BY applied_at DESC, id DESC LIMIT {_HISTORY_LIMIT}"
        )
    )
    return [AuditEntry.model_validate(dict(r._mapping)) for r in reversed(rows.all())]


async def read_lock_holder(conn: AsyncConnection) -> LockHolder | None:
    """Who holds the migration lock; a bigint advisory key shows as classid (high 32 bits)
    and objid (low 32 bits) with objsubid 1 in ``pg_locks``."""
    row = (
        await conn.execute(
            text(
                "SELECT l.pid, a.application_name, a.client_addr::text AS client_addr, "
                "a.backend_start, a.state FROM pg_locks l "
                "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "LIMIT 1"
            ),
            {"hi": MIGRATION_LOCK_KEY >> 32, "lo": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
        )
    ).first()
    return None if row is None else LockHolder.model_validate(dict(row._mapping))


def checksum_drift(
    history: list[AuditEntry], *, current: str | None, chain: Chain
) -> list[ChecksumDrift]:
    """Applied revisions whose latest recorded upgrade checksum differs from the file now."""
    if current is None or current not in chain.ids:
        return []
    recorded = {e.revision: e.checksum for e in history if e.direction == "upgrade"}
    applied = chain.revisions[: chain.index(current) + 1]
    now = {info.revision: file_checksum(info.path) for info in applied}
    return [
        ChecksumDrift(revision=rev, recorded_checksum=recorded[rev], current_checksum=checksum)
        for rev, checksum in now.items()
        if recorded.get(rev, checksum) != checksum
    ]


async def inspect_database(
    target: str | AsyncEngine,
    *,
    app_version: str = __version__,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    verbose: bool = False,
) -> tuple[MigrationStatus, MigrationDetails | None]:
    """Status (and details when ``verbose``) through one bounded connection; never raises."""
    chain, row = load_chain(), row_for(app_version)
    details = None
    try:
        async with asyncio.timeout(timeout_seconds), connect(target, timeout_seconds) as conn:
            status = await read_status(conn, chain=chain, row=row)
            if verbose:
                current = status.current_revision
                details = await read_details(conn, current=current, chain=chain, row=row)
    except DB_ERRORS as exc:
        error = unreachable_message(exc, timeout_seconds)
        status = failed(error, expected_head=chain.resolve(row.expected_head))
        empty = MigrationDetails(
            history=[], matrix=row.resolved(chain), lock_holder=None, checksum_drift=[]
        )
        return status, empty if verbose else None
    return status, details


async def check_migration_status(
    target: str | AsyncEngine,
    *,
    app_version: str = __version__,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> MigrationStatus:
    """The DB's place in ``app_version``'s window; an outage sets ``error``, never raises."""
    status, _ = await inspect_database(
        target, app_version=app_version, timeout_seconds=timeout_seconds
    )
    return status


async def migration_report(
    target: str | AsyncEngine,
    *,
    verbose: bool = False,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The ``/ops/migrations`` body: the seven status keys, plus details when verbose."""
    status, details = await inspect_database(
        target, timeout_seconds=timeout_seconds, verbose=verbose
    )
    body = status.model_dump(mode="json")
    if details is not None:
        body.update(details.model_dump(mode="json"))
    return body
