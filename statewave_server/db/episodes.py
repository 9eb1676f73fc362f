"""Queries over ``episodes``: every one scoped by ``(tenant_id, subject_id)``."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, cast, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import Episode
from statewave_server.db.rows import NewEpisodeRow, attribute_values


@dataclass(frozen=True)
class Inserted:
    """Every requested episode in input order, and the rows that are new (each once, also
    when the request names it twice)."""

    episodes: list[Episode]
    created: list[Episode]


async def insert_episodes(session: AsyncSession, rows: Sequence[NewEpisodeRow]) -> Inserted:
    """Insert all rows as one multi-row INSERT … RETURNING.

    A row whose ``idempotency_key`` is already stored for its tenant and subject is not
    inserted again: the stored episode stands in its place.
    """
    if not rows:
        return Inserted([], [])
    statement = (
        pg_insert(Episode)
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "subject_id", "idempotency_key"],
            index_where=Episode.idempotency_key.is_not(None),
        )
        .returning(Episode)
    )
    values = [attribute_values(row) for row in rows]
    created = {e.id: e for e in (await session.scalars(statement, values)).all()}
    if len(created) == len(rows):
        return Inserted([created[row.id] for row in rows], list(created.values()))
    stored = await _by_idempotency_key([row for row in rows if row.id not in created], session)
    episodes = [created.get(row.id) or stored[_key_of(row)] for row in rows]
    return Inserted(episodes, list(created.values()))


def _key_of(row: NewEpisodeRow) -> tuple[str, str, str]:
    return (row.tenant_id, row.subject_id, row.idempotency_key or "")


async def _by_idempotency_key(
    rows: Sequence[NewEpisodeRow], session: AsyncSession
) -> dict[tuple[str, str, str], Episode]:
    keys = {_key_of(row) for row in rows}
    statement = select(Episode).where(
        tuple_(Episode.tenant_id, Episode.subject_id, Episode.idempotency_key).in_(keys)
    )
    return {
        (e.tenant_id, e.subject_id, e.idempotency_key or ""): e
        for e in (await session.scalars(statement)).all()
    }


async def newest_episodes(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int, offset: int = 0
) -> list[Episode]:
    """The newest ``limit`` episodes (by event time) after skipping ``offset``, newest first."""
    statement = (
        select(Episode)
        .where(Episode.tenant_id == tenant_id, Episode.subject_id == subject_id)
        .order_by(Episode.occurred_at.desc(), Episode.created_at.desc(), Episode.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(statement)).all())


async def newest_episode_facts(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int, payload: bool = True
) -> list[Any]:
    """Like :func:`newest_episodes`, but plain rows of the columns support analytics read
    (id, source, type, payload, occurred_at, session_id): no ORM objects to build.
    ``payload=False`` reads ``{}`` instead of the payload (SLA needs only times and roles)."""
    statement = (
        select(
            Episode.id,
            Episode.source,
            Episode.type,
            Episode.payload if payload else cast(literal("{}"), JSONB).label("payload"),
            Episode.occurred_at,
            Episode.session_id,
        )
        .where(Episode.tenant_id == tenant_id, Episode.subject_id == subject_id)
        .order_by(Episode.occurred_at.desc(), Episode.created_at.desc(), Episode.id.desc())
        .limit(limit)
    )
    return list((await session.execute(statement)).all())


def _uncompiled(*, tenant_id: str, subject_id: str) -> Select[Episode]:
    return (
        select(Episode)
        .where(
            Episode.tenant_id == tenant_id,
            Episode.subject_id == subject_id,
            Episode.last_compiled_at.is_(None),
        )
        .order_by(Episode.created_at, Episode.id)
    )


async def claim_uncompiled(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int
) -> list[Episode]:
    """Lock up to ``limit`` uncompiled episodes, oldest first, skipping ones another
    compile holds: two concurrent compiles of a subject never process one episode twice."""
    statement = (
        _uncompiled(tenant_id=tenant_id, subject_id=subject_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def peek_uncompiled(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int
) -> list[Episode]:
    """The ``limit`` oldest uncompiled episodes, without locking (drafted ahead of the
    write transaction, then checked again with :func:`claim_exactly`)."""
    return list(
        (
            await session.scalars(
                _uncompiled(tenant_id=tenant_id, subject_id=subject_id).limit(limit)
            )
        ).all()
    )


async def claim_exactly(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Collection[uuid.UUID]
) -> bool:
    """Lock these episodes if every one is still uncompiled and free; False otherwise
    (another compile took some meanwhile)."""
    statement = (
        _uncompiled(tenant_id=tenant_id, subject_id=subject_id)
        .where(Episode.id.in_(list(ids)))
        .with_only_columns(Episode.id)
        .with_for_update(skip_locked=True)
    )
    return len((await session.scalars(statement)).all()) == len(set(ids))


async def has_uncompiled(session: AsyncSession, *, tenant_id: str, subject_id: str) -> bool:
    """Whether the subject has an episode no compile has taken yet (locked ones count)."""
    statement = select(
        select(Episode.id)
        .where(
            Episode.tenant_id == tenant_id,
            Episode.subject_id == subject_id,
            Episode.last_compiled_at.is_(None),
        )
        .exists()
    )
    return bool(await session.scalar(statement))


async def mark_compiled(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
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
        # The claimed episodes loaded in this session are not read again: matching each
        # against the id list in Python cost more than the update.
        .execution_options(synchronize_session=False)
    )


async def episodes_by_ids(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Episode]:
    if not ids:
        return []
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id, Episode.id.in_(ids)
    )
    return list((await session.scalars(statement)).all())


_NEIGHBOURS_SQL = text(
    """
    SELECT e.id AS anchor, n.id AS neighbour
    FROM episodes e
    CROSS JOIN LATERAL (
        (SELECT p.id FROM episodes p
          WHERE p.tenant_id = e.tenant_id AND p.subject_id = e.subject_id
            AND (p.occurred_at, p.id) < (e.occurred_at, e.id)
          ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1)
        UNION ALL
        (SELECT f.id FROM episodes f
          WHERE f.tenant_id = e.tenant_id AND f.subject_id = e.subject_id
            AND (f.occurred_at, f.id) > (e.occurred_at, e.id)
          ORDER BY f.occurred_at, f.id LIMIT 1)
    ) n
    WHERE e.tenant_id = :tenant AND e.subject_id = :subject AND e.id = ANY(:ids)
    """
)


async def neighbour_ids(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Per given episode, the ids of the episodes just before and after it (event time)."""
    if not ids:
        return {}
    rows = (
        await session.execute(
            _NEIGHBOURS_SQL, {"tenant": tenant_id, "subject": subject_id, "ids": list(ids)}
        )
    ).all()
    around: dict[uuid.UUID, list[uuid.UUID]] = {}
    for anchor, neighbour in rows:
        around.setdefault(anchor, []).append(neighbour)
    return around


async def session_ids(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The session of each listed episode of the subject (missing episodes are absent)."""
    if not ids:
        return {}
    statement = select(Episode.id, Episode.session_id).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id, Episode.id.in_(ids)
    )
    return {episode_id: sid for episode_id, sid in (await session.execute(statement)).all()}
