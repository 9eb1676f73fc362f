"""Deleting subjects: one, a preview of a filter's matches, and a bulk delete that refuses
(409, nothing deleted) when the match count is not the one the operator previewed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.admin_queries import subject_rows as rows_repo
from statewave_server.db.admin_queries.subject_rows import MatchRow
from statewave_server.errors import BadRequest, Conflict, NotFound
from statewave_server.services.events import EventSink
from statewave_server.services.subjects import erase_subject

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class DeleteFilter:
    """Selectors are AND-ed; with none, ``match_all`` must be set explicitly."""

    subject_id_prefix: str | None = None
    older_than_days: float | None = None
    tenant_id: str | None = None
    match_all: bool = False

    def check(self) -> None:
        selectors = (self.subject_id_prefix or None, self.older_than_days, self.tenant_id)
        if all(s is None for s in selectors) and not self.match_all:
            raise BadRequest(
                "The filter is empty: give subject_id_prefix, older_than_days or tenant_id, "
                "or set match_all=true"
            )


@dataclass(frozen=True)
class Preview:
    matched: int
    sample: list[MatchRow]
    total_episodes: int
    total_memories: int


@dataclass(frozen=True)
class Deleted:
    subject_id: str
    tenant_id: str
    episodes_deleted: int
    memories_deleted: int
    snapshots_deleted: int


@dataclass(frozen=True)
class BulkDeleted:
    deleted_subjects: int
    deleted_episodes: int
    deleted_memories: int
    subjects: list[Deleted]


async def delete_subject(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
) -> Deleted:
    """Erase one (tenant, subject) everywhere; :class:`NotFound` when it holds nothing."""
    async with db.begin() as session:
        if not await rows_repo.has_data(session, tenant_id=tenant_id, subject_id=subject_id):
            raise NotFound(f"Subject '{subject_id}' not found", code="subject_not_found")
        return await _erase(session, events, tenant_id=tenant_id, subject_id=subject_id)


async def _erase(
    session: AsyncSession,
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
    keep_snapshots: bool = False,
) -> Deleted:
    counts = await erase_subject(
        session, events, tenant_id=tenant_id, subject_id=subject_id, keep_snapshots=keep_snapshots
    )
    return Deleted(subject_id, tenant_id, counts.episodes, counts.memories, counts.snapshots)


async def _matches(session: AsyncSession, selector: DeleteFilter) -> list[MatchRow]:
    selector.check()
    cutoff = None
    if selector.older_than_days is not None:
        cutoff = datetime.now(UTC) - timedelta(days=selector.older_than_days)
    return await rows_repo.match_subjects(
        session,
        subject_id_prefix=selector.subject_id_prefix or None,
        tenant_id=selector.tenant_id,
        inactive_since=cutoff,
    )


async def preview_delete(db: async_sessionmaker[AsyncSession], selector: DeleteFilter) -> Preview:
    """What a bulk delete with this filter would remove right now."""
    async with db() as session:
        matches = await _matches(session, selector)
    return Preview(
        matched=len(matches),
        sample=matches[:SAMPLE_SIZE],
        total_episodes=sum(m.episode_count for m in matches),
        total_memories=sum(m.memory_count for m in matches),
    )


async def bulk_delete(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    selector: DeleteFilter,
    *,
    confirm: bool,
    expected_count: int,
) -> BulkDeleted:
    """Delete every match in one transaction, only if it still matches ``expected_count``
    subjects (else :class:`Conflict`, nothing deleted). One ``subject.deleted`` each."""
    if not confirm:
        raise BadRequest("Bulk delete needs confirm=true")
    async with db.begin() as session:
        matches = await _matches(session, selector)
        if len(matches) != expected_count:
            raise Conflict(
                f"The filter now matches {len(matches)} subject(s), not the expected "
                f"{expected_count}; preview again before deleting",
                code="expected_count_mismatch",
                details={"matched": len(matches), "expected_count": expected_count},
            )
        done = [
            await _erase(session, events, tenant_id=m.tenant_id, subject_id=m.subject_id)
            for m in matches
        ]
    return BulkDeleted(
        deleted_subjects=len(done),
        deleted_episodes=sum(d.episodes_deleted for d in done),
        deleted_memories=sum(d.memories_deleted for d in done),
        subjects=done,
    )


async def cleanup_inactive(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    prefix: str,
    scope_prefix: str,
    max_age_hours: float,
    tenant_id: str | None,
) -> int:
    """Delete subjects with ``prefix`` idle for ``max_age_hours`` in ``tenant_id`` (``None``:
    every tenant; an explicit operator action: nothing runs this automatically). Returns how
    many were removed.

    Its scope is ephemeral subjects: ``prefix`` must start with ``scope_prefix``
    (``STATEWAVE_CLEANUP_SUBJECT_PREFIX``), so a short prefix cannot sweep real ones.
    """
    if not prefix.startswith(scope_prefix):
        raise BadRequest(
            f"cleanup only deletes ephemeral subjects: the prefix must start with "
            f"{scope_prefix!r} (STATEWAVE_CLEANUP_SUBJECT_PREFIX)",
            code="prefix_out_of_scope",
        )
    selector = DeleteFilter(
        subject_id_prefix=prefix, older_than_days=max_age_hours / 24, tenant_id=tenant_id
    )
    async with db.begin() as session:
        matches = await _matches(session, selector)
        for m in matches:  # snapshots are deliberate copies: cleanup keeps them
            await _erase(
                session, events, tenant_id=m.tenant_id, subject_id=m.subject_id, keep_snapshots=True
            )
    return len(matches)
