"""The subject explorer: listing, detail (with health and SLA), rows, links, timelines.

Every call about one subject takes its exact tenant (``''`` = default tenant).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.admin_queries import timeline as timeline_repo
from statewave_server.db.admin_queries.explorer import ExplorerFilter as ExplorerFilter
from statewave_server.db.admin_queries.explorer import SortKey, SubjectRow
from statewave_server.db.models import Episode, Memory
from statewave_server.db.read_routing import SessionFactory
from statewave_server.errors import NotFound
from statewave_server.services.events import EventSink
from statewave_server.services.support.alerts import lock_health, record_health
from statewave_server.services.support.health import HEALTH_EPISODES, compute_health
from statewave_server.services.support.records import (
    SupportEpisode,
    SupportResolution,
    load_support_data,
    window,
)
from statewave_server.services.support.sla import (
    SLA_EPISODES,
    SLA_RESOLUTIONS,
    SlaSummary,
    compute_sla,
    session_sla,
)

ACTIVE = "active"
SUPERSEDED = "superseded"


async def explore(
    sessions: SessionFactory,
    filters: ExplorerFilter,
    *,
    sort_by: SortKey = "last_activity",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SubjectRow], int]:
    """A page of subjects (health from the cache; never computed here) and the total."""
    async with sessions() as session:
        return await repo.explore_subjects(
            session, filters, sort_by=sort_by, descending=descending, limit=limit, offset=offset
        )


@dataclass(frozen=True)
class SubjectDetail:
    subject_id: str
    tenant_id: str
    footprint: repo.SubjectFootprint
    health: dict[str, Any] | None
    sla: SlaSummary | None


async def detail(
    sessions: async_sessionmaker[AsyncSession], events: EventSink, tenant_id: str, subject_id: str
) -> SubjectDetail:
    """Counts and activity, current health (cached, alerting on a transition) and SLA.

    One load serves both: SLA reads the newest ``SLA_EPISODES`` episodes, health the
    newest ``HEALTH_EPISODES`` of them (the same rows ``assess_health`` would load).
    """
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        footprint = await repo.footprint(session, tenant_id, subject_id)
        if not footprint.episode_count and not footprint.memory_count:
            raise NotFound(f"Subject '{subject_id}' not found", code="subject_not_found")
        await lock_health(session, tenant_id, subject_id)
        data = await load_support_data(
            session, tenant_id, subject_id, episodes=SLA_EPISODES, resolutions=SLA_RESOLUTIONS
        )
        report = compute_health(window(data, HEALTH_EPISODES), now)
        await record_health(session, events, tenant_id, subject_id, report, now)
    health = {
        "score": report.score,
        "state": report.state,
        "factors": [f.as_dict() for f in report.factors],
    }
    sla = compute_sla(subject_id, data, now)
    return SubjectDetail(subject_id, tenant_id, footprint, health, sla)


async def memories(
    sessions: SessionFactory,
    tenant_id: str,
    subject_id: str,
    *,
    status: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    session_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Memory], int]:
    async with sessions() as session:
        return await repo.memories_page(
            session,
            tenant_id,
            subject_id,
            status=status,
            kind=kind,
            search=search,
            session_id=session_id,
            limit=limit,
            offset=offset,
        )


async def memory_kinds(sessions: SessionFactory, tenant_id: str, subject_id: str) -> list[str]:
    async with sessions() as session:
        return await repo.memory_kinds(session, tenant_id, subject_id)


async def episodes(
    sessions: SessionFactory,
    tenant_id: str,
    subject_id: str,
    *,
    session_id: str | None = None,
    type_: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Episode], int]:
    async with sessions() as session:
        return await repo.episodes_page(
            session,
            tenant_id,
            subject_id,
            session_id=session_id,
            type_=type_,
            search=search,
            limit=limit,
            offset=offset,
        )


async def citing_memories(
    sessions: SessionFactory,
    tenant_id: str,
    subject_id: str,
    episode_id: uuid.UUID,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Memory], int]:
    """The subject's memories whose sources include the episode, newest first."""
    async with sessions() as session:
        return await repo.citing_memories(
            session, tenant_id, subject_id, episode_id, limit=limit, offset=offset
        )


@dataclass(frozen=True)
class Related:
    memory: Memory
    superseding: Memory | None
    superseded: list[Memory]
    siblings: list[Memory]


async def related(
    sessions: SessionFactory,
    tenant_id: str,
    subject_id: str,
    memory_id: uuid.UUID,
) -> Related:
    """Heuristic neighbours: the active same-kind memory that replaced a superseded one,
    the superseded ones an active memory replaced, and memories sharing its sources."""
    async with sessions() as session:
        target = await repo.get_memory(session, tenant_id, subject_id, memory_id)
        if target is None:
            raise NotFound("Memory not found", code="memory_not_found")
        same_kind = (Memory.kind == target.kind, Memory.id != target.id)
        superseding: Memory | None = None
        superseded: list[Memory] = []
        if target.status == SUPERSEDED:
            found = await repo.memories_where(
                session,
                tenant_id,
                subject_id,
                *same_kind,
                Memory.status == ACTIVE,
                Memory.created_at >= target.created_at,
                order=(Memory.created_at, Memory.id),
                limit=1,
            )
            superseding = found[0] if found else None
        elif target.status == ACTIVE:
            superseded = await repo.memories_where(
                session,
                tenant_id,
                subject_id,
                *same_kind,
                Memory.status == SUPERSEDED,
                Memory.created_at <= target.created_at,
                order=(Memory.created_at.desc(), Memory.id),
                limit=5,
            )
        seen = {target.id, *(m.id for m in superseded)}
        if superseding is not None:
            seen.add(superseding.id)
        siblings = await repo.memories_where(
            session,
            tenant_id,
            subject_id,
            repo.cites_any(list(target.source_episode_ids)[:5]),
            Memory.id.not_in(seen),
            order=(Memory.created_at.desc(), Memory.id),
            limit=10,
        )
    return Related(target, superseding, superseded, siblings)


async def session_timeline(
    sessions: SessionFactory,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    *,
    limit: int = 200,
) -> dict[str, Any]:
    """The session's episodes oldest first with citing-memory counts, the resolution
    placed where it happened, and the session's SLA metrics."""
    async with sessions() as session:
        rows, total = await timeline_repo.session_episodes(
            session, tenant_id, subject_id, session_id, limit=limit
        )
        resolution = await timeline_repo.session_resolution(
            session, tenant_id, subject_id, session_id
        )
        cited = await timeline_repo.citing_counts(
            session, tenant_id, subject_id, [e.id for e in rows]
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
        }
        at = next(
            (i for i, e in enumerate(rows) if e.occurred_at > resolution.resolved_at), len(rows)
        )
        events.insert(at, marker)
    status = sla.status
    if status == "unknown" and resolution is not None:
        status = resolution.status
    return {"sla": sla, "status": status, "episode_count": total, "events": events}
