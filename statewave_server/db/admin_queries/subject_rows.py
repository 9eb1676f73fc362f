"""A subject's rows read and written as a whole: backup, restore, bulk-delete matching."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.admin_queries.explorer import visible
from statewave_server.db.models import Episode, Memory, Resolution, SubjectHealthCache
from statewave_server.db.rows import NewHealthRow, NewResolutionRow, attribute_values

SubjectModel = type[Episode] | type[Memory] | type[Resolution]


@dataclass(frozen=True)
class SubjectRows:
    """Everything stored about one subject, oldest first."""

    episodes: list[Episode]
    memories: list[Memory]
    resolutions: list[Resolution]
    health: SubjectHealthCache | None


async def read_subject(session: AsyncSession, *, tenant_id: str, subject_id: str) -> SubjectRows:
    def of(model: Any) -> Any:
        return (
            select(model)
            .where(model.tenant_id == tenant_id, model.subject_id == subject_id)
            .order_by(model.created_at, model.id)
        )

    health = await session.scalar(
        select(SubjectHealthCache).where(
            SubjectHealthCache.tenant_id == tenant_id, SubjectHealthCache.subject_id == subject_id
        )
    )
    return SubjectRows(
        episodes=list(await session.scalars(of(Episode))),
        memories=list(await session.scalars(of(Memory))),
        resolutions=list(await session.scalars(of(Resolution))),
        health=health,
    )


async def has_data(session: AsyncSession, *, tenant_id: str, subject_id: str) -> bool:
    """True when the subject has at least one episode or memory."""
    clauses = [
        exists().where(model.tenant_id == tenant_id, model.subject_id == subject_id)
        for model in (Episode, Memory)
    ]
    return bool(await session.scalar(select(or_(*clauses))))


async def existing_ids(
    session: AsyncSession,
    model: SubjectModel,
    *,
    tenant_id: str,
    subject_id: str,
    ids: Sequence[uuid.UUID],
) -> set[uuid.UUID]:
    """Which of ``ids`` the subject already holds in ``model``'s table."""
    if not ids:
        return set()
    rows = await session.scalars(
        select(model.id).where(
            model.tenant_id == tenant_id, model.subject_id == subject_id, model.id.in_(list(ids))
        )
    )
    return set(rows)


async def ids_used_elsewhere(
    session: AsyncSession,
    model: SubjectModel,
    *,
    tenant_id: str,
    subject_id: str,
    ids: Sequence[uuid.UUID],
) -> int:
    """How many of ``ids`` belong to another (tenant, subject) in ``model``'s table."""
    if not ids:
        return 0
    here = and_(model.tenant_id == tenant_id, model.subject_id == subject_id)
    statement = select(func.count()).select_from(model).where(model.id.in_(list(ids)), not_(here))
    return int(await session.scalar(statement) or 0)


async def insert_resolutions(session: AsyncSession, rows: Sequence[NewResolutionRow]) -> int:
    """Insert resolutions; a session that already has one keeps it. The number inserted."""
    if not rows:
        return 0
    statement = (
        pg_insert(Resolution)
        .on_conflict_do_nothing(constraint="uq_resolutions_tenant_subject_session")
        .returning(Resolution.id)
    )
    inserted = 0
    for row in rows:  # one by one: insertmanyvalues with RETURNING skips conflicting rows too
        inserted += len(list(await session.scalars(statement, [attribute_values(row)])))
    return inserted


async def insert_health(session: AsyncSession, row: NewHealthRow) -> bool:
    """Store a cached health row unless the subject already has one."""
    statement = (
        pg_insert(SubjectHealthCache)
        .values(**attribute_values(row))
        .on_conflict_do_nothing(constraint="subject_health_cache_pkey")
        .returning(SubjectHealthCache.subject_id)
    )
    return (await session.scalar(statement)) is not None


@dataclass(frozen=True)
class MatchRow:
    subject_id: str
    tenant_id: str
    episode_count: int
    memory_count: int
    last_episode_at: datetime | None


async def match_subjects(
    session: AsyncSession,
    *,
    subject_id_prefix: str | None,
    tenant_id: str | None,
    inactive_since: datetime | None,
) -> list[MatchRow]:
    """Visible (tenant, subject) pairs with episodes matching every given selector
    (``inactive_since``: newest episode written before it), by tenant then subject."""
    episodes = select(
        Episode.tenant_id,
        Episode.subject_id,
        func.count().label("episode_count"),
        func.max(Episode.created_at).label("last_episode_at"),
    ).where(*visible(Episode.subject_id))
    if subject_id_prefix:
        episodes = episodes.where(Episode.subject_id.startswith(subject_id_prefix, autoescape=True))
    if tenant_id is not None:
        episodes = episodes.where(Episode.tenant_id == tenant_id)
    episodes = episodes.group_by(Episode.tenant_id, Episode.subject_id)
    if inactive_since is not None:
        episodes = episodes.having(func.max(Episode.created_at) < inactive_since)
    ep = episodes.subquery()
    memory_count = (
        select(func.count())
        .where(Memory.tenant_id == ep.c.tenant_id, Memory.subject_id == ep.c.subject_id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            ep.c.subject_id,
            ep.c.tenant_id,
            ep.c.episode_count,
            memory_count.label("memory_count"),
            ep.c.last_episode_at,
        ).order_by(ep.c.tenant_id, ep.c.subject_id)
    )
    return [MatchRow(**row._asdict()) for row in rows]
