"""``POST /v1/context``: gather candidates from the database, then assemble (pure).

Candidates: the newest memories of each kind (recency window); search hits for the task
from the subject's in-memory index — BM25 over the stored lexemes and cosine neighbours of
the task's embedding, fused by reciprocal rank with speaker matching and temporal
locality (``context/fusion.py``) into one ``relevance`` per memory; the episodes next to
the best hits (a terse turn needs the turn before it); the newest episodes; and the
subject's resolutions for session signals.
Everything runs offline (local model); the budgeted assembly itself is pure.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.index_rows import query_lexemes
from statewave_server.db.models import Episode, Memory
from statewave_server.db.resolutions import newest_resolutions
from statewave_server.services.compiler import episode_text
from statewave_server.services.context import (
    AssembledContext,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
    assemble_context,
    fusion,
)
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.services.tokens import count_tokens

RECENT_PER_KIND = {"profile_fact": 50, "procedure": 20, "episode_summary": 30}
TEXT_HITS = 150
SEMANTIC_HITS = 150
RECENT_EPISODES = 30
RESOLUTIONS = 50
NEIGHBOUR_ANCHORS = 10
NEIGHBOUR_SHARE = 0.5


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
    # The task's embedding is computed (in the model's thread) while the database works.
    vector = asyncio.create_task(_task_vector(runtime, task))
    try:
        async with sessions() as session:
            pool = await _memory_pool(session, runtime, tenant_id, subject_id, task, vector)
            pool, around = await _with_neighbours(session, tenant_id, subject_id, pool)
            pool = await _with_sessions(session, tenant_id, subject_id, pool)
            episodes = await episode_repo.newest_episodes(
                session, tenant_id, subject_id, limit=RECENT_EPISODES
            )
            episodes.reverse()
            state = await _session_state(session, tenant_id, subject_id)
    finally:
        vector.cancel()  # no-op once awaited; stops a failed request's embedding
    # Neighbours first: an episode that is also among the newest keeps its relevance.
    near = {e.id for e, _ in around}
    candidates = [_episode_candidate(e, relevance) for e, relevance in around]
    candidates += [_episode_candidate(e) for e in episodes if e.id not in near]
    episodes += [e for e, _ in around]
    bundle = assemble_context(
        task,
        max_tokens,
        [candidate for candidate, _ in pool],
        candidates,
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
    pending_vector: Awaitable[list[float] | None],
) -> list[tuple[MemoryCandidate, Memory]]:
    """Recency window first, then search hits, each memory once, with its signals.

    Search hits come from the subject's in-memory index (``services/memory_index``) and
    carry the fused ``relevance`` (see ``context/fusion.py``): BM25 over the stored
    lexemes and cosine neighbours, fused by rank, speaker-matched.
    """
    embedder = runtime.embedder if runtime.embedder and runtime.embedder.semantic else None
    index = await runtime.memory_index.get(
        session, tenant_id, subject_id, embedder.model if embedder else None
    )
    recent = [i for kind, n in RECENT_PER_KIND.items() for i in index.newest(kind, limit=n)]
    terms = await query_lexemes(session, task)
    lexical_ranking = [hit.id for hit in index.lexical(terms, limit=TEXT_HITS)]
    text_rank = {memory_id: rank for rank, memory_id in enumerate(lexical_ranking, start=1)}
    # Rows of the recency window and text hits load while the task is being embedded.
    wanted = list(dict.fromkeys([*recent, *lexical_ranking]))
    found = await memory_repo.active_by_ids(session, tenant_id, subject_id, wanted)
    vector = await pending_vector
    hits = index.nearest(vector, limit=SEMANTIC_HITS) if vector is not None else []
    similarity = {hit.id: max(0.0, hit.score) for hit in hits}
    loading = set(wanted)
    more = [i for i in similarity if i not in loading]
    found += await memory_repo.active_by_ids(session, tenant_id, subject_id, more)
    by_id = {m.id: m for m in found}  # still active (the index may be a moment behind)
    rows = {i: by_id[i] for i in [*recent, *similarity, *lexical_ranking] if i in by_id}
    semantic = [hit.id for hit in hits if hit.id in rows]
    relevance = fusion.fuse(
        task,
        [memory_id for memory_id in lexical_ranking if memory_id in rows],
        semantic,
        {m.id: m.content for m in rows.values()},
        {m.id: m.valid_from for m in rows.values()},
    )
    # Once the search found anything, a memory it did not find is not relevant (0), so
    # the recency window fills only what the hits leave over.
    missed = 0.0 if relevance else None
    return [
        (
            _memory_candidate(
                m, similarity.get(m.id), text_rank.get(m.id), relevance.get(m.id, missed)
            ),
            m,
        )
        for m in rows.values()
    ]


async def _with_neighbours(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    pool: list[tuple[MemoryCandidate, Memory]],
) -> tuple[list[tuple[MemoryCandidate, Memory]], list[tuple[Episode, float]]]:
    """Lend the turns next to the best hits a share of their relevance.

    A terse turn ("Yes, last summer!") answers the turn before it; neither retriever can
    see that. The episodes just before and after the ``NEIGHBOUR_ANCHORS`` best
    single-episode hits get ``NEIGHBOUR_SHARE`` of the hit's relevance: through their
    summary when it is in the pool, else as raw episode candidates (returned apart).
    """
    if NEIGHBOUR_ANCHORS <= 0:
        return pool, []
    ranked = sorted(
        (c for c, _ in pool if c.relevance is not None and len(c.source_episode_ids) == 1),
        key=lambda c: -(c.relevance or 0.0),
    )
    anchors: dict[uuid.UUID, float] = {}
    for candidate in ranked:
        episode_id = candidate.source_episode_ids[0]
        if episode_id not in anchors:
            anchors[episode_id] = candidate.relevance or 0.0
        if len(anchors) >= NEIGHBOUR_ANCHORS:
            break
    around, rows = await episode_repo.neighbour_episodes(
        session, tenant_id, subject_id, list(anchors)
    )
    lent: dict[uuid.UUID, float] = {}
    for anchor, neighbours in around.items():
        for neighbour in neighbours:
            lent[neighbour] = max(lent.get(neighbour, 0.0), NEIGHBOUR_SHARE * anchors[anchor])
    covered: set[uuid.UUID] = set()
    updated = []
    for candidate, memory in pool:
        boost = max((lent.get(e, 0.0) for e in candidate.source_episode_ids), default=0.0)
        if boost > (candidate.relevance or 0.0):
            candidate = replace(candidate, relevance=boost)
        if candidate.kind == "episode_summary":
            covered.update(candidate.source_episode_ids)
        updated.append((candidate, memory))
    extra = [(e, lent[e.id]) for e in rows if e.id in lent and e.id not in covered]
    return updated, extra


async def _with_sessions(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    pool: list[tuple[MemoryCandidate, Memory]],
) -> list[tuple[MemoryCandidate, Memory]]:
    """Each memory's session (the one its source episodes share, if they share one), so
    compiled messages keep the session signals their raw episodes had."""
    sources = list({e for candidate, _ in pool for e in candidate.source_episode_ids})
    session_of = await episode_repo.session_ids(session, tenant_id, subject_id, sources)
    updated = []
    for candidate, memory in pool:
        found = {session_of.get(e) for e in candidate.source_episode_ids}
        if len(found) == 1 and None not in found:
            candidate = replace(candidate, session_id=found.pop())
        updated.append((candidate, memory))
    return updated


def _memory_candidate(
    memory: Memory,
    similarity: float | None,
    text_rank: int | None,
    relevance: float | None = None,
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
        relevance=relevance,
    )


def _episode_candidate(episode: Episode, relevance: float | None = None) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=episode.id,
        source=episode.source,
        type=episode.type,
        text=episode_text(episode.payload),
        created_at=episode.occurred_at,
        session_id=episode.session_id,
        relevance=relevance,
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
