"""Subject-wide queries: paging a subject's rows, listing subjects, deleting one."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, or_, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import webhook_attempts
from statewave_server.db.memory_changes import announce
from statewave_server.db.models import (
    Episode,
    Job,
    Memory,
    Resolution,
    SubjectHealthCache,
    SubjectSnapshot,
    WebhookEvent,
)

# Where a snapshot row records the subject it copies (``source_subject_id`` holds the
# hidden copy's id): erasing the subject erases its snapshots too.
SNAPSHOT_SOURCE_KEY = "copied_from_subject_id"

Row = TypeVar("Row", Episode, Memory)

# Hidden subjects (snapshot copies, temporary bootstrap subjects) are not listed.
HIDDEN_SUBJECT_PREFIXES = ("_snapshot/", "_bootstrap_tmp/")


# Namespaces Statewave's advisory locks (the seed of ``hashtextextended``).
_SUBJECT_LOCK_SEED = 0x53574C4B

_TRY_LOCK_SUBJECT_SQL = text(
    "SELECT pg_try_advisory_xact_lock(hashtextextended(:tenant || chr(31) || :subject, :seed))"
)


async def lock_subject(
    session: AsyncSession, *, tenant_id: str, subject_id: str, wait_seconds: float
) -> bool:
    """Take the subject's write lock, held until the transaction ends; False when another
    transaction still holds it after ``wait_seconds``.

    Transaction-scoped (``pg_try_advisory_xact_lock``), so it is released by commit,
    rollback or a dropped connection and works behind PgBouncer in transaction mode.
    Polled rather than waited for in one statement, so the wait stays below the
    statement timeout and a timeout never aborts the caller's transaction. Compiles of one
    subject take it so that each one's supersede step sees the previous one's memories
    (two hash-colliding subjects merely wait for each other).
    """
    params = {"tenant": tenant_id, "subject": subject_id, "seed": _SUBJECT_LOCK_SEED}
    deadline = time.monotonic() + wait_seconds
    pause = 0.02
    while not await session.scalar(_TRY_LOCK_SUBJECT_SQL, params):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)
    return True


async def subject_page(
    session: AsyncSession,
    model: type[Row],
    *,
    tenant_id: str,
    subject_id: str,
    limit: int,
    offset: int,
    newest_first: bool,
) -> tuple[list[Row], bool]:
    """One page of a subject's rows in ascending time order, and whether more exist.

    ``newest_first`` takes the window from the newest end (offset counts back from it).
    """
    time = Episode.occurred_at if model is Episode else model.created_at
    order = (time.desc(), model.id.desc()) if newest_first else (time, model.id)
    statement = (
        select(model)
        .where(model.tenant_id == tenant_id, model.subject_id == subject_id)
        .order_by(*order)
        .limit(limit + 1)
        .offset(offset)
    )
    rows = list((await session.scalars(statement)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return rows, has_more


@dataclass(frozen=True)
class SubjectSummary:
    subject_id: str
    episode_count: int
    memory_count: int


async def list_subjects(
    session: AsyncSession, tenant_id: str, *, limit: int, offset: int
) -> tuple[list[SubjectSummary], int]:
    """A page of the tenant's subjects (sorted by id) and the total number of subjects."""
    ids = union(
        select(Episode.subject_id.label("subject_id")).where(Episode.tenant_id == tenant_id),
        select(Memory.subject_id.label("subject_id")).where(Memory.tenant_id == tenant_id),
    ).subquery()
    visible = (
        select(ids.c.subject_id)
        .where(
            *[
                ~ids.c.subject_id.startswith(prefix, autoescape=True)
                for prefix in HIDDEN_SUBJECT_PREFIXES
            ]
        )
        .subquery()
    )
    total = int((await session.scalar(select(func.count()).select_from(visible))) or 0)
    page = (
        await session.scalars(
            select(visible.c.subject_id).order_by(visible.c.subject_id).limit(limit).offset(offset)
        )
    ).all()
    return [
        await _summary(session, tenant_id=tenant_id, subject_id=subject) for subject in page
    ], total


async def _summary(session: AsyncSession, *, tenant_id: str, subject_id: str) -> SubjectSummary:
    episodes = await _count(session, Episode, tenant_id=tenant_id, subject_id=subject_id)
    memories = await _count(session, Memory, tenant_id=tenant_id, subject_id=subject_id)
    return SubjectSummary(subject_id, episodes, memories)


async def _count(
    session: AsyncSession, model: type[Row], *, tenant_id: str, subject_id: str
) -> int:
    statement = select(func.count()).where(
        model.tenant_id == tenant_id, model.subject_id == subject_id
    )
    return int((await session.scalar(statement)) or 0)


@dataclass(frozen=True)
class DeletedCounts:
    episodes: int
    memories: int
    snapshots: int = 0


async def delete_subject(
    session: AsyncSession, *, tenant_id: str, subject_id: str, keep_snapshots: bool = False
) -> DeletedCounts:
    """Remove the subject from every table that holds its data (in the caller's
    transaction): episodes, memories, resolutions, health cache, jobs, its snapshot copies
    (unless ``keep_snapshots``: housekeeping, not erasure), and its mentions in outbox
    events (an event that also concerns other subjects is kept for them, without it)."""
    episodes = await _delete(session, Episode, tenant_id=tenant_id, subject_id=subject_id)
    memories = await _delete(session, Memory, tenant_id=tenant_id, subject_id=subject_id)
    await announce(session, tenant_id=tenant_id, subject_id=subject_id)
    for model in (Resolution, SubjectHealthCache, Job):
        await session.execute(
            delete(model).where(model.tenant_id == tenant_id, model.subject_id == subject_id)
        )
    await _forget_in_outbox(session, tenant_id=tenant_id, subject_id=subject_id)
    snapshots = (
        0
        if keep_snapshots
        else await _delete_snapshots_of(session, tenant_id=tenant_id, subject_id=subject_id)
    )
    return DeletedCounts(episodes, memories, snapshots)


async def _delete_snapshots_of(session: AsyncSession, *, tenant_id: str, subject_id: str) -> int:
    """Delete the snapshots copied from the subject (rows and hidden copies)."""
    copied_from = SubjectSnapshot.metadata_[SNAPSHOT_SOURCE_KEY].astext
    rows = await session.execute(
        delete(SubjectSnapshot)
        .where(SubjectSnapshot.tenant_id == tenant_id, copied_from == subject_id)
        .returning(SubjectSnapshot.source_subject_id)
    )
    hidden = list(rows.scalars())
    for copy in hidden:  # rows are gone first, so a snapshot of a snapshot ends too
        await delete_subject(session, tenant_id=tenant_id, subject_id=copy)
    return len(hidden)


_FORGET_IN_BATCH_EVENTS_SQL = text(
    """
    UPDATE webhook_events
       SET payload = jsonb_set(
             payload, '{data,subject_ids}',
             (SELECT coalesce(jsonb_agg(s), '[]'::jsonb)
                FROM jsonb_array_elements(payload -> 'data' -> 'subject_ids') AS s
               WHERE s <> to_jsonb(CAST(:subject AS text))))
     WHERE tenant_id = :tenant
       AND payload -> 'data' -> 'subject_ids' @> jsonb_build_array(CAST(:subject AS text))
    """
)


async def _forget_in_outbox(session: AsyncSession, *, tenant_id: str, subject_id: str) -> None:
    """Events about the subject alone are deleted (with their attempt log); multi-subject
    events lose its id."""
    data = WebhookEvent.payload["data"]
    deleted = await session.scalars(
        delete(WebhookEvent)
        .where(
            WebhookEvent.tenant_id == tenant_id,
            or_(
                data["subject_id"].astext == subject_id,
                data["subject_ids"] == func.jsonb_build_array(subject_id),
            ),
        )
        .returning(WebhookEvent.id)
    )
    await webhook_attempts.delete_for_events(session, list(deleted))
    await session.execute(_FORGET_IN_BATCH_EVENTS_SQL, {"tenant": tenant_id, "subject": subject_id})


async def _delete(
    session: AsyncSession, model: type[Row], *, tenant_id: str, subject_id: str
) -> int:
    result = await session.execute(
        delete(model).where(model.tenant_id == tenant_id, model.subject_id == subject_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
