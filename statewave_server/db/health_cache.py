"""The per-(tenant, subject) health cache that makes alerts fire once per transition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import SubjectHealthCache


async def lock_subject_health(session: AsyncSession, *, tenant_id: str, subject_id: str) -> None:
    """Serialise health updates of one subject until the transaction ends.

    A transaction-scoped advisory lock (also when no cache row exists yet), so two
    concurrent computations cannot both see the old state and both announce a transition.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"statewave.health\x1f{tenant_id}\x1f{subject_id}"},
    )


async def cached_health(
    session: AsyncSession, *, tenant_id: str, subject_id: str
) -> SubjectHealthCache | None:
    statement = select(SubjectHealthCache).where(
        SubjectHealthCache.tenant_id == tenant_id, SubjectHealthCache.subject_id == subject_id
    )
    return (await session.scalars(statement)).one_or_none()


async def store_health(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    state: str,
    score: int,
    factors: list[dict[str, Any]],
) -> None:
    """Insert or overwrite the subject's cached state, score and factors."""
    statement = insert(SubjectHealthCache).values(
        tenant_id=tenant_id,
        subject_id=subject_id,
        last_state=state,
        last_score=score,
        factors=factors,
    )
    statement = statement.on_conflict_do_update(
        constraint="subject_health_cache_pkey",
        set_={
            "last_state": statement.excluded.last_state,
            "last_score": statement.excluded.last_score,
            "factors": statement.excluded.factors,
            "updated_at": func.now(),
        },
    )
    await session.execute(statement)
