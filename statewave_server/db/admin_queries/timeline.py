"""Queries behind a session's timeline: its episodes, its resolution, citation counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.admin_queries.explorer import cites_any, page
from statewave_server.db.models import Episode, Memory, Resolution


async def citing_counts(
    session: AsyncSession, *, tenant_id: str, subject_id: str, episode_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many of the subject's memories cite each of ``episode_ids``."""
    if not episode_ids:
        return {}
    cited = func.unnest(Memory.source_episode_ids).label("episode_id")
    inner = (
        select(cited)
        .where(Memory.tenant_id == tenant_id, Memory.subject_id == subject_id)
        .where(cites_any(episode_ids))
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.episode_id, func.count())
        .where(inner.c.episode_id.in_(list(episode_ids)))
        .group_by(inner.c.episode_id)
    )
    return {eid: int(n) for eid, n in rows}


async def session_episodes(
    session: AsyncSession, *, tenant_id: str, subject_id: str, session_id: str, limit: int
) -> tuple[list[Episode], int]:
    """The session's first ``limit`` episodes oldest first, and how many it has."""
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id,
        Episode.subject_id == subject_id,
        Episode.session_id == session_id,
    )
    order = (Episode.occurred_at, Episode.created_at, Episode.id)
    return await page(session, statement, order, limit, 0)


async def session_resolution(
    session: AsyncSession, *, tenant_id: str, subject_id: str, session_id: str
) -> Resolution | None:
    statement = select(Resolution).where(
        Resolution.tenant_id == tenant_id,
        Resolution.subject_id == subject_id,
        Resolution.session_id == session_id,
    )
    return await session.scalar(statement)
