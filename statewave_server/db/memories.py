"""Queries over ``memories``: every one scoped by ``(tenant_id, subject_id)``.

Every write here announces itself (``memory_changes.announce``), so the in-memory
retrieval indexes of every process stay exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    Update,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from statewave_server.db.memory_changes import announce
from statewave_server.db.models import Memory
from statewave_server.db.rows import NewMemoryRow, attribute_values

ACTIVE = "active"
SUPERSEDED = "superseded"
#: The metadata key naming the memory that superseded this one (written on supersede).
SUPERSEDED_BY = "superseded_by"


# No reader needs vectors (large) or lexemes (the index's input) back: never load them
# (raise if touched).
_WITHOUT_VECTOR = (
    defer(Memory.embedding, raiseload=True),
    defer(Memory.content_tsv, raiseload=True),
)


async def insert_memories(session: AsyncSession, rows: Sequence[NewMemoryRow]) -> list[Memory]:
    """Insert rows (one prepared statement, executed for every row); the stored memories
    come back in input order.

    They are built from what was sent, not read back with ``RETURNING``: hydrating the
    rows again cost more client CPU than the insert itself, a third of a compile's event
    loop (``bench/compile.py``). A timestamp left to "now" gets the transaction's
    ``now()``, the value the column's default would have given."""
    if not rows:
        return []
    now = await _transaction_now(session)
    values = [attribute_values(row, now=now) for row in rows]
    await session.execute(insert(Memory), values)
    inserted = [Memory(**row) for row in values]
    by_subject: dict[tuple[str, str], list[uuid.UUID]] = {}
    for memory in inserted:
        by_subject.setdefault((memory.tenant_id, memory.subject_id), []).append(memory.id)
    for (tenant_id, subject_id), ids in by_subject.items():
        await announce(session, tenant_id=tenant_id, subject_id=subject_id, ids=ids)
    return inserted


async def _transaction_now(session: AsyncSession) -> datetime:
    """``now()`` of the session's transaction: what a ``DEFAULT now()`` column gets."""
    now: datetime = (await session.execute(select(func.now()))).scalar_one()
    return now


def _active(*, tenant_id: str, subject_id: str) -> Select[Memory]:
    return (
        select(Memory)
        .options(*_WITHOUT_VECTOR)
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
        )
    )


async def newest_active(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    kind: str | None = None,
    limit: int,
) -> list[Memory]:
    statement = _active(tenant_id=tenant_id, subject_id=subject_id)
    if kind is not None:
        statement = statement.where(Memory.kind == kind)
    statement = statement.order_by(Memory.created_at.desc(), Memory.id).limit(limit)
    return list((await session.scalars(statement)).all())


async def supersede_candidates(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    excluding: Collection[uuid.UUID],
    limit: int,
) -> list[tuple[uuid.UUID, str, str, datetime, datetime]]:
    """``(id, kind, content, valid_from, created_at)`` of the subject's newest active
    memories but ``excluding``: only what the supersede rule reads, since a compile
    compares against up to thousands of them and whole rows cost more to load than the
    rule costs to run."""
    statement = (
        select(Memory.id, Memory.kind, Memory.content, Memory.valid_from, Memory.created_at)
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
            Memory.id.not_in(excluding),
        )
        .order_by(Memory.created_at.desc(), Memory.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).tuples().all())


def _update_one(*, tenant_id: str, subject_id: str, memory_id: uuid.UUID) -> Update:
    return update(Memory).where(
        Memory.tenant_id == tenant_id, Memory.subject_id == subject_id, Memory.id == memory_id
    )


async def supersede(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    superseded: Sequence[tuple[uuid.UUID, datetime, uuid.UUID | None]],
) -> None:
    """Mark memories superseded, each with its own ``valid_to``, recording the memory that
    replaced it (``metadata.superseded_by``) so lineage is read, never guessed."""
    for memory_id, valid_to, successor in superseded:
        await session.execute(
            _update_one(tenant_id=tenant_id, subject_id=subject_id, memory_id=memory_id)
            # A Python timestamp (not now()) keeps loaded objects in sync instead of
            # expiring updated_at, which async code could not lazily reload.
            .values(status=SUPERSEDED, valid_to=valid_to, updated_at=datetime.now(UTC))
        )
        if successor is not None:
            await record_metadata(
                session,
                tenant_id=tenant_id,
                subject_id=subject_id,
                memory_id=memory_id,
                values={SUPERSEDED_BY: str(successor)},
            )
    await announce(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        ids=[memory_id for memory_id, _, _ in superseded],
    )


async def record_metadata(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    memory_id: uuid.UUID,
    values: dict[str, Any],
) -> None:
    """Merge ``values`` into one memory's metadata in SQL (loaded copies are not synced:
    the status update before it is the one callers read back)."""
    merged = Memory.metadata_.op("||", return_type=JSONB)(literal(values, JSONB))
    await session.execute(
        _update_one(tenant_id=tenant_id, subject_id=subject_id, memory_id=memory_id)
        .values(metadata_=merged, updated_at=Memory.updated_at)
        .execution_options(synchronize_session=False)
    )


async def lock_in_tenant(
    session: AsyncSession, tenant_id: str, memory_id: uuid.UUID
) -> Memory | None:
    """One memory of the tenant by id, locked for an edit (None when absent)."""
    statement = (
        select(Memory)
        .options(*_WITHOUT_VECTOR)
        .where(Memory.tenant_id == tenant_id, Memory.id == memory_id)
        .with_for_update()
    )
    return await session.scalar(statement)


async def set_status(
    session: AsyncSession,
    memory: Memory,
    status: str,
    valid_to: datetime,
    metadata: dict[str, Any],
) -> None:
    """End one memory's validity with ``status``, merging ``metadata`` into its own."""
    await session.execute(
        _update_one(
            tenant_id=memory.tenant_id, subject_id=memory.subject_id, memory_id=memory.id
        ).values(
            status=status,
            valid_to=valid_to,
            metadata_={**memory.metadata_, **metadata},
            updated_at=datetime.now(UTC),
        )
    )
    await announce(
        session, tenant_id=memory.tenant_id, subject_id=memory.subject_id, ids=[memory.id]
    )


async def set_embeddings(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    vectors: Sequence[tuple[uuid.UUID, Sequence[float]]],
    model: str,
) -> None:
    for memory_id, vector in vectors:
        # Maintenance, not an edit: keep updated_at (the column's onupdate would bump it).
        await session.execute(
            _update_one(tenant_id=tenant_id, subject_id=subject_id, memory_id=memory_id).values(
                embedding=list(vector), embedding_model=model, updated_at=Memory.updated_at
            )
        )
    await announce(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        ids=[memory_id for memory_id, _ in vectors],
    )


async def active_by_ids(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Memory]:
    """The given memories that are still active, in no particular order."""
    if not ids:
        return []
    statement = _active(tenant_id=tenant_id, subject_id=subject_id).where(Memory.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def by_ids(
    session: AsyncSession, *, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Memory]:
    """The given memories (any status), in creation order."""
    if not ids:
        return []
    statement = (
        select(Memory)
        .options(*_WITHOUT_VECTOR)
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


async def ids_starting_with(
    session: AsyncSession, *, tenant_id: str, prefix: str, limit: int
) -> list[uuid.UUID]:
    """Ids of the tenant's memories whose hex form starts with ``prefix`` (a short id as
    tables show it): a range on ``ix_memories_id``, not a scan of the table's text."""
    digits = prefix.replace("-", "")
    if len(digits) > 32:
        return []
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    rows = await session.scalars(
        select(Memory.id)
        .where(Memory.id.between(low, high), Memory.tenant_id == tenant_id)
        .order_by(Memory.id)
        .limit(limit)
    )
    return list(rows)
