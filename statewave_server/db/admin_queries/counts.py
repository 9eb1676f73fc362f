"""Counts for the dashboard, the usage report and the tenant audit (read-only, across tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal_column, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from statewave_server.db.models import (
    Episode,
    Job,
    Memory,
    SubjectHealthCache,
    WebhookEvent,
)

CountedModel = type[Episode] | type[Memory] | type[Job] | type[WebhookEvent]


async def count_rows(
    session: AsyncSession,
    model: CountedModel,
    *,
    tenant_id: str | None = None,
    since: datetime | None = None,
) -> int:
    """Rows of ``model`` (optionally of one tenant, created at or after ``since``)."""
    statement = select(func.count()).select_from(model)
    if tenant_id is not None:
        statement = statement.where(model.tenant_id == tenant_id)
    if since is not None:
        statement = statement.where(model.created_at >= since)
    return int(await session.scalar(statement) or 0)


async def count_active_subjects(
    session: AsyncSession, *, tenant_id: str | None = None, since: datetime | None = None
) -> int:
    """Distinct (tenant, subject) pairs with an episode written at or after ``since``."""
    inner = select(Episode.tenant_id, Episode.subject_id).distinct()
    if tenant_id is not None:
        inner = inner.where(Episode.tenant_id == tenant_id)
    if since is not None:
        inner = inner.where(Episode.created_at >= since)
    return int(await session.scalar(select(func.count()).select_from(inner.subquery())) or 0)


async def job_status_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {str(status): int(n) for status, n in rows}


async def health_state_counts(session: AsyncSession) -> dict[str, int]:
    """Cached health states of subjects that still have episodes, and ``unknown`` for the
    subjects with episodes but no cached state."""
    subjects = select(Episode.tenant_id, Episode.subject_id).distinct().subquery()
    cache = SubjectHealthCache
    state = func.coalesce(cache.last_state, literal_column("'unknown'"))
    rows = await session.execute(
        select(state, func.count())
        .select_from(subjects)
        .outerjoin(
            cache,
            (cache.tenant_id == subjects.c.tenant_id) & (cache.subject_id == subjects.c.subject_id),
        )
        .group_by(state)
    )
    return {str(state): int(n) for state, n in rows}


async def tenant_ids(session: AsyncSession) -> list[str]:
    """Every tenant that holds episodes or memories (``''`` is the default tenant)."""
    ids = union(select(Episode.tenant_id), select(Memory.tenant_id)).subquery()
    rows = await session.scalars(select(ids.c.tenant_id).order_by(ids.c.tenant_id))
    return list(rows)


async def default_tenant_counts(session: AsyncSession) -> dict[str, int]:
    """Rows of the default tenant (``''``): what a tenant backfill would have to move."""
    return {
        name: await count_rows(session, model, tenant_id="")
        for name, model in (
            ("episodes", Episode),
            ("memories", Memory),
            ("compile_jobs", Job),
            ("webhook_events", WebhookEvent),
        )
    }


async def distinct_values(session: AsyncSession, column: InstrumentedAttribute[str]) -> list[str]:
    """Every value ``column`` holds, sorted: the choices of a console filter (job kinds,
    event types), so an exact-match filter is picked rather than guessed."""
    return [
        str(value) for value in await session.scalars(select(column).distinct().order_by(column))
    ]
