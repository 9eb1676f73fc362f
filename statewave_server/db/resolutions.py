"""Queries over ``resolutions`` (how support sessions ended)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Resolution


async def newest_resolutions(
    session: AsyncSession, tenant_id: str, subject_id: str, *, limit: int
) -> list[Resolution]:
    """The subject's resolutions, most recently updated first."""
    statement = (
        select(Resolution)
        .where(Resolution.tenant_id == tenant_id, Resolution.subject_id == subject_id)
        .order_by(Resolution.updated_at.desc(), Resolution.id)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())
