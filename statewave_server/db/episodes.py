"""Queries over ``episodes``: every one scoped by ``(tenant_id, subject_id)``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Episode


async def insert_episodes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Episode]:
    """Insert all rows (keys are attribute names) as one multi-row INSERT … RETURNING,
    returned in input order."""
    values = [{"id": uuid.uuid4(), **row} for row in rows]
    statement = insert(Episode).returning(Episode, sort_by_parameter_order=True)
    return list((await session.scalars(statement, values)).all())


async def newest_episodes(
    session: AsyncSession, tenant_id: str, subject_id: str, *, limit: int, offset: int = 0
) -> list[Episode]:
    """The newest ``limit`` episodes after skipping ``offset`` newer ones, newest first."""
    statement = (
        select(Episode)
        .where(Episode.tenant_id == tenant_id, Episode.subject_id == subject_id)
        .order_by(Episode.created_at.desc(), Episode.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(statement)).all())


async def oldest_episodes(
    session: AsyncSession, tenant_id: str, subject_id: str, *, limit: int, offset: int = 0
) -> list[Episode]:
    """Episodes in ascending time order (for timelines paged from the start)."""
    statement = (
        select(Episode)
        .where(Episode.tenant_id == tenant_id, Episode.subject_id == subject_id)
        .order_by(Episode.created_at, Episode.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(statement)).all())


async def claim_uncompiled(
    session: AsyncSession, tenant_id: str, subject_id: str, *, limit: int
) -> list[Episode]:
    """Lock up to ``limit`` uncompiled episodes, oldest first, skipping ones another
    compile holds: two concurrent compiles of a subject never process one episode twice."""
    statement = (
        select(Episode)
        .where(
            Episode.tenant_id == tenant_id,
            Episode.subject_id == subject_id,
            Episode.last_compiled_at.is_(None),
        )
        .order_by(Episode.created_at, Episode.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def mark_compiled(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> None:
    if not ids:
        return
    await session.execute(
        update(Episode)
        .where(
            Episode.tenant_id == tenant_id,
            Episode.subject_id == subject_id,
            Episode.id.in_(ids),
        )
        .values(last_compiled_at=func.now())
    )


async def episodes_by_ids(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Episode]:
    if not ids:
        return []
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id, Episode.id.in_(ids)
    )
    return list((await session.scalars(statement)).all())


async def count_episodes(session: AsyncSession, tenant_id: str, subject_id: str) -> int:
    statement = select(func.count()).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id
    )
    return int((await session.scalar(statement)) or 0)
