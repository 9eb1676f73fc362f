"""Queries over ``memories``: every one scoped by ``(tenant_id, subject_id)``.

Vector search is an exact scan over one subject's active memories of one embedding
model (vectors of different models are never compared), so its cost follows the size of
the subject, not of the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    Update,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from statewave_server.db.models import Memory

ACTIVE = "active"
SUPERSEDED = "superseded"
_TSCONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")


async def insert_memories(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Memory]:
    """Insert rows (attribute-name keys, ``id`` included) in one statement, in order."""
    if not rows:
        return []
    statement = insert(Memory).returning(Memory, sort_by_parameter_order=True)
    return list((await session.scalars(statement, list(rows))).all())


# Vectors are large and no reader needs them back: never load them (raise if touched).
_WITHOUT_VECTOR = defer(Memory.embedding, raiseload=True)


def _active(tenant_id: str, subject_id: str) -> Select[Memory]:
    return (
        select(Memory)
        .options(_WITHOUT_VECTOR)
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
        )
    )


async def newest_active(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    *,
    kind: str | None = None,
    limit: int,
) -> list[Memory]:
    statement = _active(tenant_id, subject_id)
    if kind is not None:
        statement = statement.where(Memory.kind == kind)
    statement = statement.order_by(Memory.created_at.desc(), Memory.id).limit(limit)
    return list((await session.scalars(statement)).all())


def _update_one(tenant_id: str, subject_id: str, memory_id: uuid.UUID) -> Update:
    return update(Memory).where(
        Memory.tenant_id == tenant_id, Memory.subject_id == subject_id, Memory.id == memory_id
    )


async def supersede(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    superseded: Sequence[tuple[uuid.UUID, datetime]],
) -> None:
    """Mark memories superseded, each with its own ``valid_to``."""
    for memory_id, valid_to in superseded:
        await session.execute(
            _update_one(tenant_id, subject_id, memory_id)
            # A Python timestamp (not now()) keeps loaded objects in sync instead of
            # expiring updated_at, which async code could not lazily reload.
            .values(status=SUPERSEDED, valid_to=valid_to, updated_at=datetime.now(UTC))
        )


async def text_matches(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    query: str,
    *,
    kind: str | None,
    limit: int,
) -> list[Memory]:
    """Memories sharing any stemmed word with ``query`` (best ``ts_rank_cd`` first) or
    containing it as a substring (``%`` and ``_`` escaped, so user text is literal)."""
    tsquery = _any_word(query)
    document = Memory.content_tsv  # stored, generated: no row's text is re-parsed
    rank = func.ts_rank_cd(document, tsquery)
    statement = _active(tenant_id, subject_id).where(
        or_(document.op("@@")(tsquery), Memory.content.icontains(query, autoescape=True))
    )
    if kind is not None:
        statement = statement.where(Memory.kind == kind)
    statement = statement.order_by(rank.desc(), Memory.created_at.desc(), Memory.id).limit(limit)
    return list((await session.scalars(statement)).all())


def _any_word(query: str) -> ColumnElement[Any]:
    """``plainto_tsquery`` with OR instead of AND: a long task shares *some* words."""
    anded = func.plainto_tsquery(_TSCONFIG, query)
    return cast(func.replace(cast(anded, Text), "&", "|"), TSQUERY)


@dataclass(frozen=True)
class VectorHit:
    memory: Memory
    distance: float


async def nearest(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    vector: Sequence[float],
    *,
    model: str,
    kind: str | None,
    limit: int,
) -> list[VectorHit]:
    """Active memories embedded by ``model``, nearest first (cosine distance 0–2)."""
    distance = Memory.embedding.cosine_distance(list(vector)).label("distance")
    statement = (
        select(Memory, distance)
        .options(_WITHOUT_VECTOR)
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
            Memory.embedding_model == model,
            func.vector_dims(Memory.embedding) == len(vector),
        )
        .order_by(distance, Memory.id)
        .limit(limit)
    )
    if kind is not None:
        statement = statement.where(Memory.kind == kind)
    rows = (await session.execute(statement)).all()
    return [VectorHit(row[0], float(row[1])) for row in rows]


async def set_embeddings(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    vectors: Sequence[tuple[uuid.UUID, Sequence[float]]],
    model: str,
) -> None:
    for memory_id, vector in vectors:
        await session.execute(
            _update_one(tenant_id, subject_id, memory_id).values(
                embedding=list(vector), embedding_model=model
            )
        )


async def by_ids(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Memory]:
    """The given memories (any status), in creation order."""
    if not ids:
        return []
    statement = (
        select(Memory)
        .options(_WITHOUT_VECTOR)
        .where(Memory.tenant_id == tenant_id, Memory.subject_id == subject_id, Memory.id.in_(ids))
        .order_by(Memory.created_at, Memory.id)
    )
    return list((await session.scalars(statement)).all())


async def missing_embeddings_page(
    session: AsyncSession,
    model: str,
    *,
    after: tuple[str, str, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[Memory]:
    """Memories (any tenant, any status) without a ``model`` vector — NULL or another
    model's — in ``(tenant_id, subject_id, id)`` order after the key ``after`` (keyset)."""
    statement = select(Memory).where(
        or_(Memory.embedding.is_(None), Memory.embedding_model.is_distinct_from(model))
    )
    if after is not None:
        statement = statement.where(
            tuple_(Memory.tenant_id, Memory.subject_id, Memory.id) > tuple_(*after)
        )
    statement = statement.order_by(Memory.tenant_id, Memory.subject_id, Memory.id).limit(limit)
    return list((await session.scalars(statement)).all())


async def count_missing_embeddings(session: AsyncSession, model: str) -> int:
    """How many memories (any tenant, any status) have no ``model`` vector."""
    statement = (
        select(func.count())
        .select_from(Memory)
        .where(or_(Memory.embedding.is_(None), Memory.embedding_model.is_distinct_from(model)))
    )
    return int(await session.scalar(statement) or 0)
