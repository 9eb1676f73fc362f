"""``POST /v1/context``: gather candidates from the database, then assemble (pure).

Candidates: the newest memories of each kind (recency window), full-text and semantic
hits for the task (so relevant old memories enter the pool), the newest episodes, and
the subject's resolutions for session signals.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.models import Episode, Memory
from statewave_server.db.resolutions import newest_resolutions
from statewave_server.services.compiler import episode_text
from statewave_server.services.context import (
    AssembledContext,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
    assemble_context,
)
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.services.tokens import count_tokens

RECENT_PER_KIND = {"profile_fact": 50, "procedure": 20, "episode_summary": 30}
TEXT_HITS = 50
SEMANTIC_HITS = 100
RECENT_EPISODES = 30
RESOLUTIONS = 50


@dataclass(frozen=True)
class ContextResult:
    """The assembled bundle plus the rows behind its candidates, by id."""

    bundle: AssembledContext
    memories: dict[uuid.UUID, Memory]
    episodes: dict[uuid.UUID, Episode]


async def build_context(
    sessions: async_sessionmaker[AsyncSession],
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
    *,
    task: str,
    max_tokens: int,
    session_id: str | None,
) -> ContextResult:
    vector = await _task_vector(runtime, task)
    async with sessions() as session:
        pool = await _memory_pool(session, runtime, tenant_id, subject_id, task, vector)
        episodes = await episode_repo.newest_episodes(
            session, tenant_id, subject_id, limit=RECENT_EPISODES
        )
        episodes.reverse()
        state = await _session_state(session, tenant_id, subject_id)
    bundle = assemble_context(
        task,
        max_tokens,
        [candidate for candidate, _ in pool],
        [_episode_candidate(e) for e in episodes],
        state,
        session_id,
        count_tokens,
        datetime.now(UTC),
    )
    return ContextResult(bundle, {m.id: m for _, m in pool}, {e.id: e for e in episodes})


async def _task_vector(runtime: MemoryRuntime, task: str) -> list[float] | None:
    """The task's embedding, only from a provider whose similarities mean something."""
    if runtime.embedder is None or not runtime.embedder.semantic:
        return None
    return await runtime.embedder.embed_query(task)


async def _memory_pool(
    session: AsyncSession,
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
    task: str,
    vector: Sequence[float] | None,
) -> list[tuple[MemoryCandidate, Memory]]:
    """Recency window first, then search hits, each memory once, with its signals."""
    recent: list[Memory] = []
    for kind, limit in RECENT_PER_KIND.items():
        recent += await memory_repo.newest_active(
            session, tenant_id, subject_id, kind=kind, limit=limit
        )
    lexical = await memory_repo.text_matches(
        session, tenant_id, subject_id, task, kind=None, limit=TEXT_HITS
    )
    text_rank = {m.id: rank for rank, m in enumerate(lexical, start=1)}
    similarity: dict[uuid.UUID, float] = {}
    semantic: list[Memory] = []
    if vector is not None and runtime.embedder is not None:
        hits = await memory_repo.nearest(
            session,
            tenant_id,
            subject_id,
            vector,
            model=runtime.embedder.model,
            kind=None,
            limit=SEMANTIC_HITS,
        )
        similarity = {h.memory.id: max(0.0, 1.0 - h.distance) for h in hits}
        semantic = [h.memory for h in hits]
    rows = {m.id: m for m in [*recent, *semantic, *lexical]}
    return [
        (_memory_candidate(m, similarity.get(m.id), text_rank.get(m.id)), m) for m in rows.values()
    ]


def _memory_candidate(
    memory: Memory, similarity: float | None, text_rank: int | None
) -> MemoryCandidate:
    return MemoryCandidate(
        id=memory.id,
        kind=memory.kind,
        content=memory.content,
        summary=memory.summary,
        created_at=memory.created_at,
        valid_from=memory.valid_from,
        valid_to=memory.valid_to,
        source_episode_ids=tuple(memory.source_episode_ids),
        metadata=memory.metadata_,
        semantic_similarity=similarity,
        text_rank=text_rank,
    )


def _episode_candidate(episode: Episode) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=episode.id,
        source=episode.source,
        type=episode.type,
        text=episode_text(episode.payload),
        created_at=episode.occurred_at,
        session_id=episode.session_id,
    )


async def _session_state(session: AsyncSession, tenant_id: str, subject_id: str) -> SessionState:
    resolutions = await newest_resolutions(session, tenant_id, subject_id, limit=RESOLUTIONS)
    return SessionState(
        resolved_session_ids=frozenset(r.session_id for r in resolutions if r.status == "resolved"),
        open_session_ids=frozenset(r.session_id for r in resolutions if r.status == "open"),
        resolution_summaries={
            r.session_id: r.resolution_summary for r in resolutions if r.resolution_summary
        },
    )
