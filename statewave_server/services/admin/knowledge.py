"""What the console knows about a subject, and why: current facts with their recorded
history (``lineage.py``) and open issues.

A superseded memory without a recorded successor (compiled before lineage was recorded)
is listed as "replacement not recorded" rather than attached to a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import explorer as repo
from statewave_server.db.models import Memory, Resolution
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
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    active_by_kind: Mapping[str, int],
    resolutions: Sequence[Resolution],
) -> Knowledge:
    """Current non-summary facts (profile facts first) with the values they replaced.

    Runs in the caller's session (the subject page reads everything in one transaction);
    ``active_by_kind`` and ``resolutions`` are what the page has already loaded.
    """
    active = await repo.current_facts(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        except_kind=SUMMARY_KIND,
        limit=MAX_FACTS,
    )
    history = await repo.past_facts(
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        except_kind=SUMMARY_KIND,
        limit=MAX_HISTORY,
    )
    replaced_by = recorded_chains(history)
    unlinked = [
        m for m in history if m.status == memory_repo.SUPERSEDED and successor_id(m) is None
    ]
    facts = [KnownFact(m, chain(m.id, replaced_by)) for m in active]
    facts.sort(key=lambda f: _kind_rank(f.memory.kind))  # stable: newest first within a kind
    return Knowledge(
        facts=facts,
        fact_total=sum(n for kind, n in active_by_kind.items() if kind != SUMMARY_KIND),
        summary_count=active_by_kind.get(SUMMARY_KIND, 0),
        unlinked=unlinked,
        open_issues=[r for r in resolutions if r.status in OPEN_STATUSES],
    )
