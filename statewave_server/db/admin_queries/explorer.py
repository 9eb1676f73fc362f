"""The subject explorer: subjects across tenants, one subject's rows, and their links."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Text, and_, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from statewave_server.db.memories import ACTIVE, SUPERSEDED, SUPERSEDED_BY
from statewave_server.db.models import Episode, Memory, Resolution, SubjectHealthCache
from statewave_server.db.subjects import HIDDEN_SUBJECT_PREFIXES

SortKey = Literal["subject_id", "last_activity", "episode_count", "memory_count"]


@dataclass(frozen=True)
class SubjectRow:
    subject_id: str
    tenant_id: str
    episode_count: int
    memory_count: int
    session_count: int
    last_episode_at: datetime | None
    health_state: str | None
    health_score: int | None
    open_sessions: int


@dataclass(frozen=True)
class ExplorerFilter:
    search: str | None = None
    tenant_id: str | None = None
    health_state: str | None = None
    has_open_sessions: bool | None = None
    subject_id: str | None = None  # exactly this id (in any tenant, unless one is given)


def visible(column: Any) -> list[ColumnElement[bool]]:
    """Clauses hiding snapshot copies and temporary subjects."""
    return [~column.startswith(prefix, autoescape=True) for prefix in HIDDEN_SUBJECT_PREFIXES]


def _grouped(model: Any, tenant_id: str | None, *extra: ColumnElement[bool]) -> Any:
    statement = select(model.tenant_id, model.subject_id, func.count().label("n")).where(*extra)
    if tenant_id is not None:
        statement = statement.where(model.tenant_id == tenant_id)
    return statement.group_by(model.tenant_id, model.subject_id).subquery()


def _matches(search: str) -> ColumnElement[bool]:
    """The subject id contains ``search``, or one of its memories does (a name, an e-mail)."""
    in_memory = exists().where(
        Memory.tenant_id == Episode.tenant_id,
        Memory.subject_id == Episode.subject_id,
        Memory.content.icontains(search, autoescape=True),
    )
    return or_(Episode.subject_id.icontains(search, autoescape=True), in_memory)


def _explorer(filters: ExplorerFilter) -> Select[Any]:
    episodes = select(
        Episode.tenant_id,
        Episode.subject_id,
        func.count().label("episode_count"),
        func.count(func.distinct(Episode.session_id)).label("session_count"),
        func.max(Episode.occurred_at).label("last_episode_at"),
    ).where(*visible(Episode.subject_id))
    if filters.tenant_id is not None:
        episodes = episodes.where(Episode.tenant_id == filters.tenant_id)
    if filters.search:
        episodes = episodes.where(_matches(filters.search))

    def one(model: Any) -> list[ColumnElement[bool]]:
        """With one subject id, every per-subject count is grouped for it alone."""
        return [] if filters.subject_id is None else [model.subject_id == filters.subject_id]

    ep = episodes.where(*one(Episode)).group_by(Episode.tenant_id, Episode.subject_id).subquery()
    mem = _grouped(Memory, filters.tenant_id, *one(Memory))
    opened = _grouped(Resolution, filters.tenant_id, Resolution.status == "open", *one(Resolution))
    cache = SubjectHealthCache

    def joined(table: Any) -> ColumnElement[bool]:
        return and_(table.tenant_id == ep.c.tenant_id, table.subject_id == ep.c.subject_id)

    statement = (
        select(
            ep.c.subject_id,
            ep.c.tenant_id,
            ep.c.episode_count,
            func.coalesce(mem.c.n, 0).label("memory_count"),
            ep.c.session_count,
            ep.c.last_episode_at,
            cache.last_state.label("health_state"),
            cache.last_score.label("health_score"),
            func.coalesce(opened.c.n, 0).label("open_sessions"),
        )
        .select_from(ep)
        .outerjoin(mem, joined(mem.c))
        .outerjoin(opened, joined(opened.c))
        .outerjoin(cache, joined(cache))
    )
    if filters.health_state is not None:
        statement = statement.where(cache.last_state == filters.health_state)
    if filters.has_open_sessions is not None:
        has_open = func.coalesce(opened.c.n, 0) > 0
        statement = statement.where(has_open if filters.has_open_sessions else ~has_open)
    return statement


async def explore_subjects(
    session: AsyncSession,
    filters: ExplorerFilter,
    *,
    sort_by: SortKey,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[SubjectRow], int]:
    """A page of (tenant, subject) pairs that have episodes, and the total before paging."""
    base = _explorer(filters).subquery()
    column = {
        "subject_id": base.c.subject_id,
        "last_activity": base.c.last_episode_at,
        "episode_count": base.c.episode_count,
        "memory_count": base.c.memory_count,
    }[sort_by]
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    rows = await session.execute(
        select(base)
        .order_by(order, base.c.subject_id, base.c.tenant_id)
        .limit(limit)
        .offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(base))
    return [SubjectRow(**row._asdict()) for row in rows], int(total or 0)


@dataclass(frozen=True)
class SubjectFootprint:
    """Counts and times of one subject. ``first_seen_at``/``last_activity_at`` are event
    times (episodes' ``occurred_at``; memories' ``valid_from`` for a subject with no
    episodes); ``last_recorded_at`` is the newest write. Embedding backfills and other
    maintenance touch neither."""

    episode_count: int
    memory_count: int
    episode_sessions: int
    resolution_sessions: int
    first_seen_at: datetime | None
    last_activity_at: datetime | None
    last_recorded_at: datetime | None
    last_resolution_at: datetime | None = None  # newest resolution write (health freshness)


async def footprint(session: AsyncSession, *, tenant_id: str, subject_id: str) -> SubjectFootprint:
    """Counts and first/last activity of one subject (all zero/None when it is empty), in
    one statement."""

    def of(model: Any, *columns: Any) -> Any:
        scoped = (model.tenant_id == tenant_id, model.subject_id == subject_id)
        return select(*columns).where(*scoped).subquery()

    e = of(
        Episode,
        func.count().label("episodes"),
        func.count(func.distinct(Episode.session_id)).label("episode_sessions"),
        func.min(Episode.occurred_at).label("first_event"),
        func.max(Episode.occurred_at).label("last_event"),
        func.max(Episode.created_at).label("last_episode_write"),
    )
    m = of(
        Memory,
        func.count().label("memories"),
        func.min(Memory.valid_from).label("first_valid"),
        func.max(Memory.valid_from).label("last_valid"),
        func.max(Memory.created_at).label("last_memory_write"),
    )
    r = of(
        Resolution,
        func.count(func.distinct(Resolution.session_id)).label("resolution_sessions"),
        func.max(Resolution.updated_at).label("last_resolution_write"),
    )
    joined = e.join(m, literal(True)).join(r, literal(True))
    row = (await session.execute(select(e, m, r).select_from(joined))).one()
    recorded = [t for t in (row.last_episode_write, row.last_memory_write) if t is not None]
    return SubjectFootprint(
        episode_count=int(row.episodes),
        memory_count=int(row.memories),
        episode_sessions=int(row.episode_sessions),
        resolution_sessions=int(row.resolution_sessions or 0),
        first_seen_at=row.first_event if row.episodes else row.first_valid,
        last_activity_at=row.last_event if row.episodes else row.last_valid,
        last_recorded_at=max(recorded) if recorded else None,
        last_resolution_at=row.last_resolution_write,
    )


async def page(
    session: AsyncSession, statement: Select[Any], order: Sequence[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``statement`` and the total, in one statement (a window count); a page
    past the end counts separately."""
    counted = statement.add_columns(func.count().over().label("total"))
    rows = (await session.execute(counted.order_by(*order).limit(limit).offset(offset))).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return [], int(total or 0)


def _memories(*, tenant_id: str, subject_id: str) -> Select[Memory]:
    """The subject's memories without their vectors or lexemes (no page shows them;
    parsing hundreds of them dominated the subject page's render time)."""
    return (
        select(Memory)
        .options(defer(Memory.embedding, raiseload=True), defer(Memory.content_tsv, raiseload=True))
        .where(Memory.tenant_id == tenant_id, Memory.subject_id == subject_id)
    )


_NEWEST_MEMORIES = (Memory.created_at.desc(), Memory.id)


async def memories_page(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    status: str | None,
    kind: str | None,
    search: str | None,
    limit: int,
    offset: int,
    session_id: str | None = None,
) -> tuple[list[Memory], int]:
    """The subject's memories, newest first, filtered (``session_id``: citing one of that
    session's episodes); and the filtered total."""
    statement = _memories(tenant_id=tenant_id, subject_id=subject_id)
    if session_id is not None:
        statement = statement.where(
            exists().where(
                Episode.tenant_id == tenant_id,
                Episode.subject_id == subject_id,
                Episode.session_id == session_id,
                Episode.id == func.any(Memory.source_episode_ids),
            )
        )
    if status is not None:
        statement = statement.where(Memory.status == status)
    if kind is not None:
        statement = statement.where(Memory.kind == kind)
    if search:
        statement = statement.where(
            or_(
                *(
                    column.icontains(search, autoescape=True)
                    for column in (Memory.content, Memory.summary, Memory.kind)
                )
            )
        )
    return await page(session, statement, _NEWEST_MEMORIES, limit, offset)


async def episodes_page(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str | None,
    type_: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Episode], int]:
    """The subject's episodes, newest first, filtered; and the filtered total."""
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id
    )
    if session_id is not None:
        statement = statement.where(Episode.session_id == session_id)
    if type_ is not None:
        statement = statement.where(Episode.type == type_)
    if search:
        columns = (cast(Episode.payload, Text), Episode.type, Episode.source, Episode.session_id)
        statement = statement.where(
            or_(*(column.icontains(search, autoescape=True) for column in columns))
        )
    order = (Episode.occurred_at.desc(), Episode.created_at.desc(), Episode.id)
    return await page(session, statement, order, limit, offset)


def _cites(ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    overlap: ColumnElement[bool] = Memory.source_episode_ids.overlap(
        cast(list(ids), ARRAY(UUID(as_uuid=True)))
    )
    return overlap


async def citing_memories(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    episode_id: uuid.UUID,
    limit: int,
    offset: int,
) -> tuple[list[Memory], int]:
    statement = _memories(tenant_id=tenant_id, subject_id=subject_id).where(_cites([episode_id]))
    return await page(session, statement, _NEWEST_MEMORIES, limit, offset)


async def get_memory(
    session: AsyncSession, *, tenant_id: str, subject_id: str, memory_id: uuid.UUID
) -> Memory | None:
    return await session.scalar(
        _memories(tenant_id=tenant_id, subject_id=subject_id).where(Memory.id == memory_id)
    )


async def _newest(session: AsyncSession, statement: Select[Memory], limit: int) -> list[Memory]:
    return list(await session.scalars(statement.order_by(*_NEWEST_MEMORIES).limit(limit)))


async def current_facts(
    session: AsyncSession, *, tenant_id: str, subject_id: str, except_kind: str, limit: int
) -> list[Memory]:
    """The subject's active memories of every kind but ``except_kind``, newest first."""
    memories = _memories(tenant_id=tenant_id, subject_id=subject_id)
    return await _newest(
        session, memories.where(Memory.status == ACTIVE, Memory.kind != except_kind), limit
    )


async def past_facts(
    session: AsyncSession, *, tenant_id: str, subject_id: str, except_kind: str, limit: int
) -> list[Memory]:
    """The subject's no longer active memories of every kind but ``except_kind``, newest
    first (the history the current facts replaced)."""
    memories = _memories(tenant_id=tenant_id, subject_id=subject_id)
    return await _newest(
        session, memories.where(Memory.status != ACTIVE, Memory.kind != except_kind), limit
    )


async def sharing_sources(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    episode_ids: Sequence[uuid.UUID],
    exclude: Collection[uuid.UUID],
    limit: int,
) -> list[Memory]:
    """The subject's memories citing any of ``episode_ids``, but none in ``exclude``,
    newest first."""
    memories = _memories(tenant_id=tenant_id, subject_id=subject_id)
    return await _newest(
        session, memories.where(cites_any(episode_ids), Memory.id.not_in(exclude)), limit
    )


async def active_counts_by_kind(
    session: AsyncSession, *, tenant_id: str, subject_id: str
) -> dict[str, int]:
    """Every kind the subject's memories have (alphabetically) with its active count."""
    active = func.count().filter(Memory.status == ACTIVE)
    statement = (
        select(Memory.kind, active)
        .where(Memory.tenant_id == tenant_id, Memory.subject_id == subject_id)
        .group_by(Memory.kind)
        .order_by(Memory.kind)
    )
    return {kind: int(n) for kind, n in (await session.execute(statement)).all()}


def cites_any(ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """Memories citing at least one of ``ids`` (false for no ids)."""
    return _cites(ids) if ids else literal(False)


# --- lineage: which memory replaced which ---------------------------------------------------


def _unrecorded() -> ColumnElement[bool]:
    """Superseded before lineage was recorded (no ``superseded_by`` in its metadata)."""
    return and_(Memory.status == SUPERSEDED, ~Memory.metadata_.has_key(SUPERSEDED_BY))


async def recorded_predecessors(
    session: AsyncSession, *, tenant_id: str, subject_id: str, memory_id: uuid.UUID, limit: int
) -> list[Memory]:
    """The memories whose recorded ``superseded_by`` is ``memory_id``, newest first."""
    statement = (
        _memories(tenant_id=tenant_id, subject_id=subject_id)
        .where(Memory.metadata_[SUPERSEDED_BY].astext == str(memory_id))
        .order_by(*_NEWEST_MEMORIES)
        .limit(limit)
    )
    return list(await session.scalars(statement))


async def inferred_successor(
    session: AsyncSession, *, tenant_id: str, subject_id: str, memory: Memory
) -> Memory | None:
    """For a memory superseded before lineage was recorded: the oldest active memory of
    its kind created after it (the old rule; a guess)."""
    statement = (
        _memories(tenant_id=tenant_id, subject_id=subject_id)
        .where(
            Memory.kind == memory.kind,
            Memory.id != memory.id,
            Memory.status == ACTIVE,
            Memory.created_at >= memory.created_at,
        )
        .order_by(Memory.created_at, Memory.id)
        .limit(1)
    )
    return await session.scalar(statement)


async def inferred_predecessors(
    session: AsyncSession, *, tenant_id: str, subject_id: str, memory: Memory, limit: int
) -> list[Memory]:
    """For an active memory: same-kind memories superseded before lineage was recorded and
    created no later than it (the old rule; a guess)."""
    statement = (
        _memories(tenant_id=tenant_id, subject_id=subject_id)
        .where(
            Memory.kind == memory.kind,
            Memory.id != memory.id,
            _unrecorded(),
            Memory.created_at <= memory.created_at,
        )
        .order_by(*_NEWEST_MEMORIES)
        .limit(limit)
    )
    return list(await session.scalars(statement))
