"""Queries over ``resolutions`` (how support sessions ended)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Resolution

RESOLVED = "resolved"


async def newest_resolutions(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    limit: int,
    offset: int = 0,
    status: str | None = None,
) -> list[Resolution]:
    """The subject's resolutions, most recently updated first (optionally one status)."""
    statement = select(Resolution).where(
        Resolution.tenant_id == tenant_id, Resolution.subject_id == subject_id
    )
    if status is not None:
        statement = statement.where(Resolution.status == status)
    statement = (
        statement.order_by(Resolution.updated_at.desc(), Resolution.id).limit(limit).offset(offset)
    )
    return list((await session.scalars(statement)).all())


async def upsert_resolution(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    status: str,
    summary: str | None,
    metadata: dict[str, Any],
) -> Resolution:
    """Create or overwrite the (tenant, subject, session) record in one statement.

    ``resolved_at`` is set when the status becomes ``resolved`` (kept when it already was)
    and cleared for any other status; the returned row carries the stored values.
    """
    resolved_now = func.now() if status == RESOLVED else None
    statement = insert(Resolution).values(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        status=status,
        resolution_summary=summary,
        resolved_at=resolved_now,
        metadata_=metadata,
    )
    # Already resolved: keep when it was resolved; otherwise now; any other status: NULL.
    kept_or_now = func.coalesce(Resolution.__table__.c.resolved_at, func.now())
    upsert = statement.on_conflict_do_update(
        constraint="uq_resolutions_tenant_subject_session",
        set_={
            "status": statement.excluded.status,
            "resolution_summary": statement.excluded.resolution_summary,
            "metadata": statement.excluded["metadata"],
            "resolved_at": kept_or_now if status == RESOLVED else None,
            "updated_at": func.now(),
        },
    ).returning(Resolution)
    result = await session.scalars(upsert, execution_options={"populate_existing": True})
    row: Resolution = result.one()
    return row
