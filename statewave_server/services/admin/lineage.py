"""Which memory replaced which: the one lineage reader, for the admin API and the console.

Lineage is *recorded*: the compiler's supersede (``services/compilation.py``) and an
operator's correction write ``metadata.superseded_by`` on the memory they replace. Only
memories superseded before that was recorded (no ``superseded_by`` key) fall back to the
old inference (the oldest active memory of the same kind created after it), and the
result says so (``recorded=False``) so a page can call it a guess.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.models import Memory

MAX_REPLACED = 50


def successor_id(memory: Memory) -> uuid.UUID | None:
    """The recorded id of the memory that superseded ``memory`` (None when unrecorded)."""
    raw = memory.metadata_.get(memory_repo.SUPERSEDED_BY)
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def recorded_chains(history: Iterable[Memory]) -> dict[uuid.UUID, list[Memory]]:
    """``history`` grouped by the recorded successor id (memories without one are left out)."""
    replaced_by: dict[uuid.UUID, list[Memory]] = {}
    for memory in history:
        successor = successor_id(memory)
        if successor is not None:
            replaced_by.setdefault(successor, []).append(memory)
    return replaced_by


def chain(head: uuid.UUID, replaced_by: dict[uuid.UUID, list[Memory]]) -> list[Memory]:
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


@dataclass(frozen=True)
class Lineage:
    """The memory that replaced this one, and the ones this one replaced.

    ``recorded`` is False when either comes from the legacy inference (memories
    superseded before ``superseded_by`` was written).
    """

    superseded_by: Memory | None
    replaced: list[Memory]
    recorded: bool


async def lineage(session: AsyncSession, memory: Memory) -> Lineage:
    """Recorded lineage of ``memory``; the inference only for unrecorded, older rows."""
    scope = {"tenant_id": memory.tenant_id, "subject_id": memory.subject_id}
    successor: Memory | None = None
    recorded = True
    found = successor_id(memory)
    if found is not None:
        rows = await memory_repo.by_ids(
            session, tenant_id=memory.tenant_id, subject_id=memory.subject_id, ids=[found]
        )
        successor = rows[0] if rows else None
    elif memory.status == memory_repo.SUPERSEDED:
        successor = await repo.inferred_successor(session, **scope, memory=memory)
        recorded = successor is None
    replaced = await repo.recorded_predecessors(
        session, **scope, memory_id=memory.id, limit=MAX_REPLACED
    )
    if memory.status == memory_repo.ACTIVE:
        guessed = await repo.inferred_predecessors(
            session, **scope, memory=memory, limit=MAX_REPLACED - len(replaced)
        )
        recorded = recorded and not guessed
        replaced += guessed
    return Lineage(successor, replaced, recorded)
