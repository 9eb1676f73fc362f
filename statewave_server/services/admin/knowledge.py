"""What the console knows about a subject, and why: current facts with their recorded
history, and the lineage of one memory.

Lineage is read from ``metadata.superseded_by`` (written by the compiler's supersede and
by operator corrections), never guessed from timestamps or kinds. A superseded memory
without it (compiled before lineage was recorded) is listed as "replacement not
recorded" rather than attached to a guess.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.models import Memory, Resolution
from statewave_server.db.resolutions import newest_resolutions

SUMMARY_KIND = "episode_summary"
#: Kinds shown first, in this order; any other kind follows alphabetically.
KIND_ORDER = ("profile_fact", "preference", "procedure")
MAX_FACTS = 100
MAX_HISTORY = 1000
OPEN_STATUSES = ("open", "unresolved")


def successor_id(memory: Memory) -> uuid.UUID | None:
    """The recorded id of the memory that superseded ``memory`` (None when unrecorded)."""
    raw = memory.metadata_.get(memory_repo.SUPERSEDED_BY)
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class KnownFact:
    """An active memory and the values it replaced, newest first (the recorded chain)."""

    memory: Memory
    replaced: list[Memory] = field(default_factory=list)


@dataclass(frozen=True)
class Knowledge:
    facts: list[KnownFact]
    fact_total: int
    summary_count: int
    unlinked: list[Memory]  # superseded, replacement not recorded
    open_issues: list[Resolution]


def _kind_rank(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def _chain(head: uuid.UUID, replaced_by: dict[uuid.UUID, list[Memory]]) -> list[Memory]:
    """Every memory that led to ``head`` through recorded supersessions, newest first."""
    found: list[Memory] = []
    todo = [head]
    seen = {head}
    while todo:
        for older in replaced_by.get(todo.pop(), []):
            if older.id not in seen:
                seen.add(older.id)
                found.append(older)
                todo.append(older.id)
    return sorted(found, key=lambda m: (m.valid_to or m.created_at, m.created_at), reverse=True)


async def knowledge(
    sessions: async_sessionmaker[AsyncSession], *, tenant_id: str, subject_id: str
) -> Knowledge:
    """Current non-summary facts (profile facts first) with the values they replaced."""
    newest = (Memory.created_at.desc(), Memory.id)
    async with sessions() as session:
        active = await repo.memories_where(
            session,
            Memory.status == memory_repo.ACTIVE,
            Memory.kind != SUMMARY_KIND,
            tenant_id=tenant_id,
            subject_id=subject_id,
            order=newest,
            limit=MAX_FACTS,
        )
        fact_total = await repo.count_memories(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            status=memory_repo.ACTIVE,
            exclude_kind=SUMMARY_KIND,
        )
        summaries = await repo.count_memories(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            status=memory_repo.ACTIVE,
            kind=SUMMARY_KIND,
        )
        history = await repo.memories_where(
            session,
            Memory.status != memory_repo.ACTIVE,
            Memory.kind != SUMMARY_KIND,
            tenant_id=tenant_id,
            subject_id=subject_id,
            order=newest,
            limit=MAX_HISTORY,
        )
        resolutions = await newest_resolutions(
            session, tenant_id=tenant_id, subject_id=subject_id, limit=100
        )
    replaced_by: dict[uuid.UUID, list[Memory]] = {}
    unlinked = []
    for memory in history:
        successor = successor_id(memory)
        if successor is not None:
            replaced_by.setdefault(successor, []).append(memory)
        elif memory.status == memory_repo.SUPERSEDED:
            unlinked.append(memory)
    facts = [KnownFact(m, _chain(m.id, replaced_by)) for m in active]
    facts.sort(key=lambda f: _kind_rank(f.memory.kind))  # stable: newest first within a kind
    return Knowledge(
        facts=facts,
        fact_total=fact_total,
        summary_count=summaries,
        unlinked=unlinked,
        open_issues=[r for r in resolutions if r.status in OPEN_STATUSES],
    )


@dataclass(frozen=True)
class Lineage:
    superseded_by: Memory | None
    replaced: list[Memory]


async def lineage(sessions: async_sessionmaker[AsyncSession], memory: Memory) -> Lineage:
    """The memory that replaced ``memory`` and the ones it replaced (recorded only)."""
    successor = successor_id(memory)
    async with sessions() as session:
        found = (
            await memory_repo.by_ids(
                session, tenant_id=memory.tenant_id, subject_id=memory.subject_id, ids=[successor]
            )
            if successor is not None
            else []
        )
        replaced = await repo.memories_where(
            session,
            Memory.metadata_[memory_repo.SUPERSEDED_BY].astext == str(memory.id),
            tenant_id=memory.tenant_id,
            subject_id=memory.subject_id,
            order=(Memory.created_at.desc(), Memory.id),
            limit=50,
        )
    return Lineage(found[0] if found else None, replaced)
