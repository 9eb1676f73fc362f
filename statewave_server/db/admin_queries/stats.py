"""Counts for the dashboard and usage report; compile-job and outbox listing and purging."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal_column, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.jobs import orphaned
from statewave_server.db.models import (
    CompilationJob,
    Episode,
    Memory,
    SubjectHealthCache,
    WebhookEvent,
)

CountedModel = type[Episode] | type[Memory] | type[CompilationJob] | type[WebhookEvent]


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
    rows = await session.execute(
        select(CompilationJob.status, func.count()).group_by(CompilationJob.status)
    )
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
            ("compile_jobs", CompilationJob),
            ("webhook_events", WebhookEvent),
        )
    }


# --- compile jobs ----------------------------------------------------------------------


def _job_filters(
    status: str | None, statuses: Sequence[str] | None, fields: dict[str, str | None]
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if status is not None:
        clauses.append(CompilationJob.status == status)
    if statuses is not None:
        clauses.append(CompilationJob.status.in_(list(statuses)))
    for name, value in fields.items():
        if value is not None:
            clauses.append(getattr(CompilationJob, name) == value)
    return clauses


@dataclass(frozen=True)
class JobPage:
    jobs: list[CompilationJob]
    total: int


async def list_jobs(
    session: AsyncSession,
    *,
    status: str | None,
    subject_id: str | None,
    tenant_id: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    stuck_after_seconds: float | None = None,
) -> JobPage:
    """Newest jobs first (running jobs silent for ``stuck_after_seconds`` before all
    others, so the one to act on is on top); ``total`` ignores paging."""
    fields = {"subject_id": subject_id, "tenant_id": tenant_id, "kind": kind}
    clauses = _job_filters(status, None, fields)
    order: list[Any] = [CompilationJob.created_at.desc(), CompilationJob.id]
    if stuck_after_seconds is not None:
        order.insert(0, case((orphaned(stuck_after_seconds), 0), else_=1))
    rows = await session.scalars(
        select(CompilationJob).where(*clauses).order_by(*order).limit(limit).offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(CompilationJob).where(*clauses))
    return JobPage(list(rows), int(total or 0))


async def purge_jobs(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    subject_id: str | None,
    tenant_id: str | None,
    kind: str | None,
    older_than: datetime | None,
) -> int:
    """Delete jobs in ``statuses`` matching every given filter; the number deleted."""
    fields = {"subject_id": subject_id, "tenant_id": tenant_id, "kind": kind}
    clauses = _job_filters(None, statuses, fields)
    if older_than is not None:
        clauses.append(CompilationJob.created_at < older_than)
    result = await session.execute(delete(CompilationJob).where(*clauses))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def get_job(session: AsyncSession, job_id: str) -> CompilationJob | None:
    return await session.get(CompilationJob, job_id)


# --- webhook outbox purge ----------------------------------------------------------------


async def purge_webhook_events(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    event_type: str | None,
    tenant_id: str | None,
    older_than: datetime | None,
) -> int:
    """Delete outbox rows in ``statuses`` matching every given filter; the number deleted."""
    clauses: list[ColumnElement[bool]] = [WebhookEvent.status.in_(list(statuses))]
    if event_type is not None:
        clauses.append(WebhookEvent.event == event_type)
    if tenant_id is not None:
        clauses.append(WebhookEvent.tenant_id == tenant_id)
    if older_than is not None:
        clauses.append(WebhookEvent.created_at < older_than)
    result = await session.execute(delete(WebhookEvent).where(*clauses))
    return int(result.rowcount)  # type: ignore[attr-defined]
