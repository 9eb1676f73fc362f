"""Row factories: insert rows in any state directly, as a crash or an old version would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from statewave_server.db.engine import Database
from statewave_server.db.models import Job
from statewave_server.db.rows import NewMemoryRow
from statewave_server.services.embeddings import HashEmbeddingProvider, hash_embedding

HASH_MODEL = HashEmbeddingProvider(384)


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def database_for(engine: AsyncEngine) -> Database:
    """A ``Database`` over a test engine (same session settings as production)."""
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False))


def memory_row(
    content: str,
    *,
    subject: str = "alice",
    tenant: str = "",
    kind: str = "profile_fact",
    model: HashEmbeddingProvider | None = HASH_MODEL,
) -> NewMemoryRow:
    """An active memory row, with ``model``'s vector of its content (none when None)."""
    return NewMemoryRow(
        tenant_id=tenant,
        subject_id=subject,
        kind=kind,
        content=content,
        source_episode_ids=[],
        embedding=hash_embedding(content, model.dimensions) if model is not None else None,
        embedding_model=model.model if model is not None else None,
    )


async def make_job(session: AsyncSession, **fields: Any) -> Job:
    """Insert a compilation job; defaults to a runnable ``noop`` job. Not committed."""
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "subject_id": "user-1",
        "kind": "noop",
        "status": "pending",
    }
    values.update(fields)
    stmt = insert(Job).values(**values).returning(Job)
    return (await session.scalars(stmt)).one()


async def make_orphan(session: AsyncSession, *, minutes: float = 31, **fields: Any) -> Job:
    """A ``running`` job claimed ``minutes`` ago by a worker that died (NULL heartbeat)."""
    defaults: dict[str, Any] = {
        "status": "running",
        "attempts": 1,
        "claimed_at": minutes_ago(minutes),
        "started_at": minutes_ago(minutes),
        "claimed_by": "dead-host:1:deadbeef",
        "heartbeat_at": None,
    }
    return await make_job(session, **{**defaults, **fields})


# The runbook's "Stuck compilation jobs" statement, verbatim.


async def load_job(database: Database, job_id: str) -> Job:
    """The job row as it is now, read in a fresh session."""
    async with database.sessions() as session:
        job = await session.get(Job, job_id)
        assert job is not None, f"job {job_id} does not exist"
        return job


async def wait_until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` until it is true; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


def new_id(prefix: str) -> str:
    """A fresh id with a readable prefix, so tests never share tenants or subjects."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
