"""The webhook attempt log: one row per HTTP attempt, kept outside the revision chain.

Like the migration audit table, ``statewave_webhook_attempts`` is created by every
migration run (``ops/migration_env.py``), not by a revision: the chain is frozen at the
original server's head. It has no foreign key, so a downgrade that drops ``webhook_events``
(or the original server purging events) still works. A database migrated only by the
original server lacks it until ``alembic upgrade head`` runs once: writes then record
nothing and reads report the log as unavailable, so delivery never depends on it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

ATTEMPTS_TABLE: Final = "statewave_webhook_attempts"
ERROR_CHARS: Final = 500
SNIPPET_CHARS: Final = 300
UNDEFINED_TABLE: Final = "42P01"

CREATE_ATTEMPTS_TABLE: Final = f"""
CREATE TABLE IF NOT EXISTS {ATTEMPTS_TABLE} (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL,
    tenant_id VARCHAR(256) NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    http_status INTEGER,
    duration_ms INTEGER NOT NULL,
    error TEXT,
    response_snippet TEXT
)
"""
CREATE_ATTEMPTS_INDEX: Final = (
    f"CREATE INDEX IF NOT EXISTS ix_{ATTEMPTS_TABLE}_event ON {ATTEMPTS_TABLE} (event_id, attempt)"
)

# Its own metadata: not part of the models, so autogenerate and the schema checks skip it.
attempts = Table(
    ATTEMPTS_TABLE,
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("tenant_id", String(256), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("http_status", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text),
    Column("response_snippet", Text),
)


class AttemptLogMissing(Exception):
    """The attempt table does not exist yet (``alembic upgrade head`` creates it)."""


def _is_missing_table(exc: ProgrammingError) -> bool:
    """True when ``exc`` is PostgreSQL's "relation does not exist"."""
    return UNDEFINED_TABLE in (
        getattr(exc.orig, "sqlstate", None),
        getattr(exc.orig, "pgcode", None),
    )


@asynccontextmanager
async def _savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """Run a statement on the table in a savepoint: a missing table raises
    :class:`AttemptLogMissing` and leaves the caller's transaction usable."""
    try:
        async with session.begin_nested():
            yield
    except ProgrammingError as exc:
        if not _is_missing_table(exc):
            raise
        raise AttemptLogMissing(ATTEMPTS_TABLE) from None


async def record(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    tenant_id: str,
    attempt: int,
    http_status: int | None,
    duration_ms: int,
    error: str | None,
    response_snippet: str | None,
) -> None:
    """Add one attempt row in the caller's transaction, inside a savepoint so a missing
    table (:class:`AttemptLogMissing`) leaves the caller's transaction usable."""
    values = {
        "event_id": event_id,
        "tenant_id": tenant_id,
        "attempt": attempt,
        "http_status": http_status,
        "duration_ms": duration_ms,
        "error": None if error is None else error[:ERROR_CHARS],
        "response_snippet": None if response_snippet is None else response_snippet[:SNIPPET_CHARS],
    }
    async with _savepoint(session):
        await session.execute(insert(attempts).values(**values))


async def list_for_event(session: AsyncSession, event_id: uuid.UUID) -> list[dict[str, Any]]:
    """An event's attempts, oldest first; :class:`AttemptLogMissing` without the table."""
    stmt = (
        select(attempts)
        .where(attempts.c.event_id == event_id)
        .order_by(attempts.c.attempt, attempts.c.id)
    )
    async with _savepoint(session):
        return [dict(row) for row in (await session.execute(stmt)).mappings()]


async def delete_for_events(session: AsyncSession, event_ids: Collection[uuid.UUID]) -> None:
    """Delete the attempts of purged events (nothing to do without the table)."""
    if not event_ids:
        return
    with contextlib.suppress(AttemptLogMissing):
        async with _savepoint(session):
            stmt = delete(attempts).where(attempts.c.event_id.in_(list(event_ids)))
            await session.execute(stmt)
