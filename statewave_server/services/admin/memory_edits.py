"""An operator retires or corrects one wrong memory: audited, announced, never silent.

Retire ends the memory's validity (status ``deleted``, the row kept: context and search
stop using it).
Correct is a supersede by the operator: a new active memory with the given content, the
same kind and sources, replaces the old one, which records ``superseded_by``. Both write
the audit (who, when, why) into the memory's metadata and a structured log line, and
emit a webhook event (``memory.retired`` / ``memory.corrected``) in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.db.models import Memory
from statewave_server.db.rows import NewMemoryRow
from statewave_server.errors import BadRequest, Conflict, NotFound
from statewave_server.services.embeddings import EmbeddingProvider
from statewave_server.services.events import EventSink

log = structlog.get_logger("statewave.memory_edits")

#: The status of a retired memory: the original Statewave's word for a memory out of use
#: (its status enum is active|superseded|deleted), so a database stays readable by it.
RETIRED = "deleted"


@dataclass(frozen=True)
class MemoryEdit:
    """The edited memory (after the edit) and, for a correction, its replacement."""

    memory: Memory
    replacement: Memory | None = None


def _audit(action: str, actor: str, reason: str, at: datetime) -> dict[str, Any]:
    return {f"{action}_at": at.isoformat(), f"{action}_by": actor, f"{action}_reason": reason}


async def _editable(session: AsyncSession, tenant_id: str, memory_id: uuid.UUID) -> Memory:
    memory = await memory_repo.lock_in_tenant(session, tenant_id, memory_id)
    if memory is None:
        raise NotFound("Memory not found", code="memory_not_found")
    if memory.status != memory_repo.ACTIVE:
        raise Conflict(
            f"Memory is {memory.status}, not active: only an active memory can be edited",
            code="memory_not_active",
        )
    return memory


async def ids_starting_with(
    db: async_sessionmaker[AsyncSession], tenant_id: str, prefix: str, *, limit: int = 2
) -> list[uuid.UUID]:
    """The tenant's memory ids a short id (hex digits, dashes allowed) may name."""
    async with db() as session:
        return await memory_repo.ids_starting_with(
            session, tenant_id=tenant_id, prefix=prefix, limit=limit
        )


async def retire_memory(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    tenant_id: str,
    memory_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
) -> MemoryEdit:
    """Take one active memory out of use (404 unknown, 409 not active)."""
    now = datetime.now(UTC)
    async with db.begin() as session:
        memory = await _editable(session, tenant_id, memory_id)
        await memory_repo.set_status(
            session, memory, RETIRED, now, _audit("retired", actor, reason, now)
        )
        data = _event(memory, reason, actor)
        await events.emit(session, tenant_id, "memory.retired", data)
    log.info("memory_retired", **data, tenant_id=tenant_id)
    async with db() as session:
        return MemoryEdit(await _reload(session, memory))


async def correct_memory(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    embedder: EmbeddingProvider | None,
    tenant_id: str,
    memory_id: uuid.UUID,
    *,
    content: str,
    reason: str,
    actor: str,
) -> MemoryEdit:
    """Replace one active memory's content: the old one is superseded by a new memory."""
    content = content.strip()
    if not content:
        raise BadRequest("The corrected content is empty", code="empty_content")
    vector = (await embedder.embed_texts([content]))[0] if embedder is not None else None
    now = datetime.now(UTC)
    async with db.begin() as session:
        old = await _editable(session, tenant_id, memory_id)
        row = NewMemoryRow(
            tenant_id=tenant_id,
            subject_id=old.subject_id,
            kind=old.kind,
            content=content,
            summary=content[:200],
            valid_from=now,
            source_episode_ids=list(old.source_episode_ids),
            metadata={"corrects": str(old.id), **_audit("corrected", actor, reason, now)},
            embedding=vector,
            embedding_model=embedder.model if embedder is not None else None,
        )
        (new,) = await memory_repo.insert_memories(session, [row])
        # The compiler's way of recording the replacement (``superseded_by``), then the audit.
        await memory_repo.supersede(
            session,
            tenant_id=tenant_id,
            subject_id=old.subject_id,
            superseded=[(old.id, now, new.id)],
        )
        await memory_repo.record_metadata(
            session,
            tenant_id=tenant_id,
            subject_id=old.subject_id,
            memory_id=old.id,
            values=_audit("corrected", actor, reason, now),
        )
        data = {**_event(old, reason, actor), "replacement_memory_id": str(new.id)}
        await events.emit(session, tenant_id, "memory.corrected", data)
    log.info("memory_corrected", **data, tenant_id=tenant_id)
    async with db() as session:
        return MemoryEdit(await _reload(session, old), await _reload(session, new))


def _event(memory: Memory, reason: str, actor: str) -> dict[str, Any]:
    return {
        "subject_id": memory.subject_id,
        "memory_id": str(memory.id),
        "kind": memory.kind,
        "reason": reason,
        "actor": actor,
    }


async def _reload(session: AsyncSession, memory: Memory) -> Memory:
    (found,) = await memory_repo.by_ids(
        session, tenant_id=memory.tenant_id, subject_id=memory.subject_id, ids=[memory.id]
    )
    return found
