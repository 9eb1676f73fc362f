"""Reading and erasing a subject as a whole."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import subjects as repo
from statewave_server.db.models import Episode, Memory
from statewave_server.db.read_routing import SessionFactory
from statewave_server.services.events import EventSink


@dataclass(frozen=True)
class Timeline:
    episodes: list[Episode]
    memories: list[Memory]
    episodes_has_more: bool
    memories_has_more: bool


async def timeline(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    limit: int,
    offset: int,
    newest_first: bool,
) -> Timeline:
    """A page of episodes and of memories (all statuses), each ascending in time."""
    async with db() as session:
        episodes, more_episodes = await repo.subject_page(
            session,
            Episode,
            tenant_id=tenant_id,
            subject_id=subject_id,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
        )
        memories, more_memories = await repo.subject_page(
            session,
            Memory,
            tenant_id=tenant_id,
            subject_id=subject_id,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
        )
    return Timeline(episodes, memories, more_episodes, more_memories)


async def list_subjects(
    db: SessionFactory, tenant_id: str, *, limit: int, offset: int
) -> tuple[list[repo.SubjectSummary], int]:
    async with db() as session:
        return await repo.list_subjects(session, tenant_id, limit=limit, offset=offset)


async def delete_subject(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
) -> repo.DeletedCounts:
    """Erase the subject everywhere in one transaction and announce ``subject.deleted``."""
    async with db.begin() as session:
        return await erase_subject(session, events, tenant_id=tenant_id, subject_id=subject_id)


async def erase_subject(
    session: AsyncSession,
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
    keep_snapshots: bool = False,
) -> repo.DeletedCounts:
    """Erase the subject in the caller's transaction and announce ``subject.deleted`` in
    it (the one place that event is built: the API, MCP and console deletes all use it)."""
    counts = await repo.delete_subject(
        session, tenant_id=tenant_id, subject_id=subject_id, keep_snapshots=keep_snapshots
    )
    data = {
        "subject_id": subject_id,
        "episodes_deleted": counts.episodes,
        "memories_deleted": counts.memories,
        "snapshots_deleted": counts.snapshots,
    }
    await events.emit(session, tenant_id, "subject.deleted", data)
    return counts
