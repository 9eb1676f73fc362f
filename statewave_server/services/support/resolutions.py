"""Resolutions: how each support session ended (``open | resolved | unresolved``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import resolutions as repo
from statewave_server.db.models import Resolution

STATUSES = ("open", "resolved", "unresolved")


async def record_resolution(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    status: str,
    summary: str | None,
    metadata: dict[str, Any],
) -> Resolution:
    """Create or overwrite the session's record (one statement, committed); the returned
    row holds the stored values, ``resolved_at`` included."""
    async with db.begin() as session:
        return await repo.upsert_resolution(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            session_id=session_id,
            status=status,
            summary=summary,
            metadata=metadata,
        )


async def list_resolutions(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    status: str | None,
    limit: int,
    offset: int,
) -> list[Resolution]:
    """A page of the subject's resolutions, most recently updated first."""
    async with db() as session:
        return await repo.newest_resolutions(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            limit=limit,
            offset=offset,
            status=status,
        )
