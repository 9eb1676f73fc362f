"""What the console knows about a subject, and why: current facts with their recorded
history (``lineage.py``) and open issues.

A superseded memory without a recorded successor (compiled before lineage was recorded)
is listed as "replacement not recorded" rather than attached to a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.models import Memory, Resolution
from statewave_server.db.resolutions import newest_resolutions
from statewave_server.services.admin.lineage import chain, recorded_chains, successor_id

SUMMARY_KIND = "episode_summary"
#: Kinds shown first, in this order; any other kind follows alphabetically.
KIND_ORDER = ("profile_fact", "preference", "procedure")
MAX_FACTS = 100
MAX_HISTORY = 1000
OPEN_STATUSES = ("open", "unresolved")


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


async def knowledge(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, subject_id: str
) -> Knowledge:
    """Current non-summary facts (profile facts first) with the values they replaced."""
    newest = (Memory.created_at.desc(), Memory.id)
    async with sessions() as session:
        active = await repo.memories_where(
            session,
            tenant_id,
            subject_id,
            Memory.status == memory_repo.ACTIVE,
            Memory.kind != SUMMARY_KIND,
            order=newest,
            limit=MAX_FACTS,
        )
        fact_total = await repo.count_memories(
            session, tenant_id, subject_id, status=memory_repo.ACTIVE, exclude_kind=SUMMARY_KIND
        )
        summaries = await repo.count_memories(
            session, tenant_id, subject_id, status=memory_repo.ACTIVE, kind=SUMMARY_KIND
        )
        history = await repo.memories_where(
            session,
            tenant_id,
            subject_id,
            Memory.status != memory_repo.ACTIVE,
            Memory.kind != SUMMARY_KIND,
            order=newest,
            limit=MAX_HISTORY,
        )
        resolutions = await newest_resolutions(session, tenant_id, subject_id, limit=100)
    replaced_by = recorded_chains(history)
    unlinked = [
        m for m in history if m.status == memory_repo.SUPERSEDED and successor_id(m) is None
    ]
    facts = [KnownFact(m, chain(m.id, replaced_by)) for m in active]
    facts.sort(key=lambda f: _kind_rank(f.memory.kind))  # stable: newest first within a kind
    return Knowledge(
        facts=facts,
        fact_total=fact_total,
        summary_count=summaries,
        unlinked=unlinked,
        open_issues=[r for r in resolutions if r.status in OPEN_STATUSES],
    )
