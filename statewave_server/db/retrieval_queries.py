"""Read-only queries behind ``POST /v1/context`` retrieval; every one scoped by subject.

* ``memories_by_ids``: the rows behind the recency window and the search hits of the
  subject's in-memory index;
* ``neighbour_episodes``: the episode just before and just after given ones (event time),
  the context a terse turn ("yes, last week!") needs to make sense.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from statewave_server.db.models import Episode, Memory

ACTIVE = "active"


async def memories_by_ids(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Memory]:
    """Active memories with these ids (vectors and lexemes not loaded), in no order."""
    if not ids:
        return []
    statement = (
        select(Memory)
        .options(defer(Memory.embedding), defer(Memory.content_tsv))
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
            Memory.id.in_(list(ids)),
        )
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


async def neighbour_episodes(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[uuid.UUID]], list[Episode]]:
    """Per given episode, the ids of the episodes just before/after it; and those rows."""
    if not ids:
        return {}, []
    rows = (
        await session.execute(
            _NEIGHBOURS_SQL, {"tenant": tenant_id, "subject": subject_id, "ids": list(ids)}
        )
    ).all()
    around: dict[uuid.UUID, list[uuid.UUID]] = {}
    for anchor, neighbour in rows:
        around.setdefault(anchor, []).append(neighbour)
    wanted = list({n for ns in around.values() for n in ns})
    if not wanted:
        return around, []
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id, Episode.id.in_(wanted)
    )
    return around, list((await session.scalars(statement)).all())
