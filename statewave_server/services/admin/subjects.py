"""The subject explorer: listing, detail (with health and SLA), rows, links, timelines.

Every call about one subject takes its exact tenant (``''`` = default tenant).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import episodes as episode_repo
from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.admin_queries import timeline as timeline_repo

# Re-exported: the console builds these filters without importing db/ query modules.
from statewave_server.db.admin_queries.explorer import ExplorerFilter as ExplorerFilter
from statewave_server.db.admin_queries.explorer import SortKey as SortKey
from statewave_server.db.admin_queries.explorer import SubjectRow
from statewave_server.db.health_cache import cached_health
from statewave_server.db.models import Episode, Memory, Resolution, SubjectHealthCache
from statewave_server.db.read_routing import SessionFactory
from statewave_server.db.resolutions import newest_resolutions
from statewave_server.errors import NotFound
from statewave_server.services.admin.knowledge import Knowledge, knowledge
from statewave_server.services.admin.lineage import Lineage, lineage
from statewave_server.services.events import EventSink
from statewave_server.services.support.alerts import lock_health, record_health
from statewave_server.services.support.health import HEALTH_EPISODES, compute_health
from statewave_server.services.support.records import (
    SupportData,
    SupportEpisode,
    SupportResolution,
    load_episodes,
    window,
)
from statewave_server.services.support.sla import (
    SLA_EPISODES,
    SLA_RESOLUTIONS,
    SlaSummary,
    SlaThresholds,
    compute_sla,
    session_sla,
    subject_sla,
)


async def explore(
    db: SessionFactory,
    filters: ExplorerFilter,
    *,
    sort_by: SortKey = "last_activity",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SubjectRow], int]:
    """A page of subjects (health from the cache; never computed here) and the total."""
    async with db() as session:
        return await repo.explore_subjects(
            session, filters, sort_by=sort_by, descending=descending, limit=limit, offset=offset
        )


#: How long a cached health report stays good for a page view when nothing was written
#: since it was computed (time-driven signals, like an idle open issue, move slowly).
HEALTH_FRESH_SECONDS = 300
#: A write stamped up to this long before the report can still have been invisible to it
#: (its transaction began first and committed after the report's snapshot): such a report
#: is not reused. Ingest transactions are one statement, far shorter than this.
HEALTH_COMMIT_SLACK = timedelta(seconds=3)


@dataclass(frozen=True)
class SubjectDetail:
    subject_id: str
    tenant_id: str
    footprint: repo.SubjectFootprint
    health: dict[str, Any] | None
    sla: SlaSummary | None


async def detail(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
) -> SubjectDetail:
    """Counts and activity, current health (cached, alerting on a transition) and SLA."""
    async with db.begin() as session:
        found, _ = await _detail(session, events, tenant_id=tenant_id, subject_id=subject_id)
    return found


async def _detail(
    session: AsyncSession, events: EventSink, *, tenant_id: str, subject_id: str
) -> tuple[SubjectDetail, list[Resolution]]:
    """:func:`detail` in the caller's transaction, with the resolutions it loaded.

    Health comes from the cache when it was computed after the subject's last write and
    less than :data:`HEALTH_FRESH_SECONDS` ago; otherwise it is computed (locked, cached,
    alerting) over the newest ``HEALTH_EPISODES`` of the ``SLA_EPISODES`` SLA reads.
    """
    now = datetime.now(UTC)
    footprint = await repo.footprint(session, tenant_id=tenant_id, subject_id=subject_id)
    if not footprint.episode_count and not footprint.memory_count:
        raise NotFound(f"Subject '{subject_id}' not found", code="subject_not_found")
    health = _fresh_health(
        await cached_health(session, tenant_id=tenant_id, subject_id=subject_id), footprint, now
    )
    if health is None:
        await lock_health(session, tenant_id=tenant_id, subject_id=subject_id)
    episodes = await load_episodes(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        limit=SLA_EPISODES,
        texts=health is None,
    )
    rows = await newest_resolutions(
        session, tenant_id=tenant_id, subject_id=subject_id, limit=SLA_RESOLUTIONS
    )
    data = SupportData(episodes, tuple(SupportResolution.from_row(r) for r in rows))
    if health is None:
        report = compute_health(window(data, HEALTH_EPISODES), now)
        await record_health(
            session, events, tenant_id=tenant_id, subject_id=subject_id, report=report, now=now
        )
        health = {
            "score": report.score,
            "state": report.state,
            "factors": [f.as_dict() for f in report.factors],
        }
    sla = compute_sla(subject_id, data, now)
    return SubjectDetail(subject_id, tenant_id, footprint, health, sla), rows


def _fresh_health(
    cached: SubjectHealthCache | None, footprint: repo.SubjectFootprint, now: datetime
) -> dict[str, Any] | None:
    """The cached report when nothing was written since and it is recent, else None."""
    if cached is None or (now - cached.updated_at).total_seconds() > HEALTH_FRESH_SECONDS:
        return None
    writes = [t for t in (footprint.last_recorded_at, footprint.last_resolution_at) if t]
    if writes and max(writes) > cached.updated_at - HEALTH_COMMIT_SLACK:
        return None
    return {"score": cached.last_score, "state": cached.last_state, "factors": cached.factors}


@dataclass(frozen=True)
class PageQuery:
    """What the subject page shows of its memory table and timeline."""

    memory_kind: str | None = None
    memory_status: str | None = None
    memory_search: str | None = None
    memory_session: str | None = None
    memory_offset: int = 0
    timeline_session: str | None = None
    timeline_offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class SubjectPage:
    detail: SubjectDetail
    knowledge: Knowledge
    active_by_kind: dict[str, int]
    memories: list[Memory]
    memory_total: int
    episodes: list[Episode]
    episode_total: int
    resolutions: list[Resolution]


async def subject_page(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
    query: PageQuery,
) -> SubjectPage:
    """Everything the console's subject page shows, read in one transaction."""
    async with db.begin() as session:
        found, resolutions = await _detail(
            session, events, tenant_id=tenant_id, subject_id=subject_id
        )
        by_kind = await repo.active_counts_by_kind(
            session, tenant_id=tenant_id, subject_id=subject_id
        )
        known = await knowledge(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            active_by_kind=by_kind,
            resolutions=resolutions,
        )
        memories, memory_total = await repo.memories_page(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            status=query.memory_status,
            kind=query.memory_kind,
            search=query.memory_search,
            session_id=query.memory_session,
            limit=query.limit,
            offset=query.memory_offset,
        )
        episodes, episode_total = await repo.episodes_page(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            session_id=query.timeline_session,
            type_=None,
            search=None,
            limit=query.limit,
            offset=query.timeline_offset,
        )
    return SubjectPage(
        found, known, by_kind, memories, memory_total, episodes, episode_total, resolutions
    )


async def sla(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    thresholds: SlaThresholds,
) -> SlaSummary:
    """The subject's SLA metrics (read-only); NotFound when it has no episodes here."""
    async with db() as session:
        found = await repo.footprint(session, tenant_id=tenant_id, subject_id=subject_id)
    if not found.episode_count:
        raise NotFound(f"Subject '{subject_id}' not found", code="subject_not_found")
    return await subject_sla(db, tenant_id=tenant_id, subject_id=subject_id, thresholds=thresholds)


async def memories(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    status: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    session_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Memory], int]:
    async with db() as session:
        return await repo.memories_page(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            status=status,
            kind=kind,
            search=search,
            session_id=session_id,
            limit=limit,
            offset=offset,
        )


async def episodes(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str | None = None,
    type_: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Episode], int]:
    async with db() as session:
        return await repo.episodes_page(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            session_id=session_id,
            type_=type_,
            search=search,
            limit=limit,
            offset=offset,
        )


async def episodes_by_ids(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    ids: list[uuid.UUID],
) -> dict[uuid.UUID, Episode]:
    """The subject's episodes with these ids (unknown ids are simply absent)."""
    async with db() as session:
        found = await episode_repo.episodes_by_ids(
            session, tenant_id=tenant_id, subject_id=subject_id, ids=ids
        )
    return {e.id: e for e in found}


async def citing_memories(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    episode_id: uuid.UUID,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Memory], int]:
    """The subject's memories whose sources include the episode, newest first."""
    async with db() as session:
        return await repo.citing_memories(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            episode_id=episode_id,
            limit=limit,
            offset=offset,
        )


@dataclass(frozen=True)
class Related:
    memory: Memory
    lineage: Lineage
    siblings: list[Memory]


async def related(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    memory_id: uuid.UUID,
) -> Related:
    """The memory's lineage (recorded; see ``lineage.py``) and the memories sharing its
    sources."""
    async with db() as session:
        target = await repo.get_memory(
            session, tenant_id=tenant_id, subject_id=subject_id, memory_id=memory_id
        )
        if target is None:
            raise NotFound("Memory not found", code="memory_not_found")
        found = await lineage(session, target)
        seen = {target.id, *(m.id for m in found.replaced)}
        if found.superseded_by is not None:
            seen.add(found.superseded_by.id)
        siblings = await repo.sharing_sources(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            episode_ids=list(target.source_episode_ids)[:5],
            exclude=seen,
            limit=10,
        )
    return Related(target, found, siblings)


async def session_timeline(
    db: SessionFactory,
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    limit: int = 200,
) -> dict[str, Any]:
    """The session's episodes oldest first with citing-memory counts, the resolution
    placed where it happened, and the session's SLA metrics."""
    async with db() as session:
        rows, total = await timeline_repo.session_episodes(
            session, tenant_id=tenant_id, subject_id=subject_id, session_id=session_id, limit=limit
        )
        resolution = await timeline_repo.session_resolution(
            session, tenant_id=tenant_id, subject_id=subject_id, session_id=session_id
        )
        cited = await timeline_repo.citing_counts(
            session, tenant_id=tenant_id, subject_id=subject_id, episode_ids=[e.id for e in rows]
        )
    if not rows and resolution is None:
        raise NotFound(f"Session '{session_id}' not found", code="session_not_found")
    record = SupportResolution.from_row(resolution) if resolution is not None else None
    episodes_seen = [SupportEpisode.from_row(e) for e in rows]
    sla = session_sla(session_id, episodes_seen, record, datetime.now(UTC))
    events: list[dict[str, Any]] = [
        {"event_type": "episode", "episode": e, "citing_memory_count": cited.get(e.id, 0)}
        for e in rows
    ]
    if resolution is not None and resolution.resolved_at is not None:
        marker = {
            "event_type": "resolution",
            "resolved_at": resolution.resolved_at,
            "status": resolution.status,
            "summary": resolution.resolution_summary,
        }
        at = next(
            (i for i, e in enumerate(rows) if e.occurred_at > resolution.resolved_at), len(rows)
        )
        events.insert(at, marker)
    status = sla.status
    if status == "unknown" and resolution is not None:
        status = resolution.status
    return {"sla": sla, "status": status, "episode_count": total, "events": events}
