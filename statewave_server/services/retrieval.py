"""``POST /v1/context``: gather candidates from the database, then assemble (pure).

Candidates: the newest memories of each kind (recency window); search hits for the task
from the subject's in-memory index — BM25 over the stored lexemes and cosine neighbours of
the task's embedding, fused by reciprocal rank with speaker matching and temporal
locality (``context/fusion.py``) into one ``relevance`` per memory; the *turns* those
memories were compiled from, each with the best relevance a memory lends it (the
context shows the turns themselves, not a gist of them), plus the turns next to the
best ones (a terse turn needs the turn before it); the newest episodes; and the
subject's resolutions for session signals.

Every episode is loaded with a bounded payload (``db/episode_views.py``): a context call
never reads, parses or returns more than ``EPISODE_TEXT_CHARS`` of an episode's text.
The assembly (tokenising, rendering) runs off the event loop. Everything runs offline
(local model).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import episode_views
from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.episode_views import EpisodeView
from statewave_server.db.index_rows import query_lexemes
from statewave_server.db.models import Memory
from statewave_server.db.read_routing import SessionFactory
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
RELEVANT_TURNS = 100
SPREAD_SHARE = 0.5
NEIGHBOUR_ANCHORS = 10
NEIGHBOUR_SHARE = 0.5
#: Most characters of an episode's text a context call loads (render shows fewer).
EPISODE_TEXT_CHARS = 4000
#: Item lines up to this long have their token counts remembered (see ``_count_tokens``).
CACHED_LINE_CHARS = 1000
CACHED_LINES = 32_768


@dataclass(frozen=True)
class ContextResult:
    """The assembled bundle plus the rows behind its candidates, by id."""

    bundle: AssembledContext
    memories: dict[uuid.UUID, Memory]
    episodes: dict[uuid.UUID, EpisodeView]


async def build_context(
    db: SessionFactory,
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
    task: str,
    max_tokens: int,
    session_id: str | None,
) -> ContextResult:
    # The task's embedding is computed (in the model's thread) while the database works.
    vector = asyncio.create_task(_task_vector(runtime, task))
    try:
        async with db() as session:
            pool = await _memory_pool(
                session,
                runtime,
                tenant_id=tenant_id,
                subject_id=subject_id,
                task=task,
                pending_vector=vector,
            )
            pool = await _with_sessions(
                session, tenant_id=tenant_id, subject_id=subject_id, pool=pool
            )
            turns = await _relevant_turns(
                session, tenant_id=tenant_id, subject_id=subject_id, pool=pool
            )
            relevant = await episode_views.views_by_ids(
                session,
                tenant_id=tenant_id,
                subject_id=subject_id,
                ids=list(turns),
                text_chars=EPISODE_TEXT_CHARS,
            )
            newest = await episode_views.newest_views(
                session,
                tenant_id=tenant_id,
                subject_id=subject_id,
                limit=RECENT_EPISODES,
                text_chars=EPISODE_TEXT_CHARS,
            )
            state = await _session_state(session, tenant_id=tenant_id, subject_id=subject_id)
    finally:
        vector.cancel()  # no-op once awaited; stops a failed request's embedding
    relevant.sort(key=lambda view: -turns[view.id])
    newest.reverse()
    # Once the search found anything, an episode it did not lead to is not relevant (0).
    missed = 0.0 if turns else None
    candidates = [_episode_candidate(view, turns[view.id]) for view in relevant]
    candidates += [_episode_candidate(view, missed) for view in newest if view.id not in turns]
    bundle = await asyncio.to_thread(
        assemble_context,
        task,
        max_tokens,
        [candidate for candidate, _ in pool],
        candidates,
        state,
        session_id,
        _count_tokens,
        datetime.now(UTC),
    )
    views = {view.id: view for view in [*relevant, *newest]}
    return ContextResult(bundle, {m.id: m for _, m in pool}, views)


@lru_cache(maxsize=CACHED_LINES)
def _line_tokens(text: str) -> int:
    return count_tokens(text)


def _count_tokens(text: str) -> int:
    """Exact cl100k count; remembered for item lines (≤ ``CACHED_LINE_CHARS``): the same
    turns and memories are priced again by every call about the same subject."""
    return _line_tokens(text) if len(text) <= CACHED_LINE_CHARS else count_tokens(text)


def episode_payload(view: EpisodeView) -> dict[str, Any]:
    """The payload a bundle returns: whole when small, else its cut text, marked."""
    if view.payload is not None:
        return view.payload
    return {"text": view.cut_text or "", "truncated": True}


async def _task_vector(runtime: MemoryRuntime, task: str) -> list[float] | None:
    """The task's embedding, only from a provider whose similarities mean something."""
    if runtime.embedder is None or not runtime.embedder.semantic:
        return None
    return await runtime.embedder.embed_query(task)


async def _memory_pool(
    session: AsyncSession,
    runtime: MemoryRuntime,
    *,
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
        session,
        tenant_id=tenant_id,
        subject_id=subject_id,
        model=embedder.model if embedder else None,
    )
    recent = [i for kind, n in RECENT_PER_KIND.items() for i in index.newest(kind, limit=n)]
    terms = await query_lexemes(session, task)
    lexical_ranking = [hit.id for hit in index.lexical(terms, limit=TEXT_HITS)]
    # Rows of the recency window and text hits load while the task is being embedded.
    wanted = list(dict.fromkeys([*recent, *lexical_ranking]))
    found = await memory_repo.active_by_ids(
        session, tenant_id=tenant_id, subject_id=subject_id, ids=wanted
    )
    vector = await pending_vector
    hits = index.nearest(vector, limit=SEMANTIC_HITS) if vector is not None else []
    loading = set(wanted)
    more = [hit.id for hit in hits if hit.id not in loading]
    found += await memory_repo.active_by_ids(
        session, tenant_id=tenant_id, subject_id=subject_id, ids=more
    )
    by_id = {m.id: m for m in found}  # still active (the index may be a moment behind)
    rows = {i: by_id[i] for i in [*recent, *(h.id for h in hits), *lexical_ranking] if i in by_id}
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
    return [(_memory_candidate(m, relevance.get(m.id, missed)), m) for m in rows.values()]


async def _relevant_turns(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    pool: list[tuple[MemoryCandidate, Memory]],
) -> dict[uuid.UUID, float]:
    """The ``RELEVANT_TURNS`` episodes the found memories lead to, with their relevance.

    A memory compiled from one turn lends it its whole relevance; one compiled from
    several (a digest, a merged fact) lends each ``SPREAD_SHARE`` of it. A terse turn
    ("Yes, last summer!") answers the turn before it and neither retriever can see that,
    so the turns just before and after the ``NEIGHBOUR_ANCHORS`` best get
    ``NEIGHBOUR_SHARE`` of theirs. Each turn keeps the best relevance it is lent.
    """
    lent: dict[uuid.UUID, float] = {}
    for candidate, _ in pool:
        sources = candidate.source_episode_ids
        share = 1.0 if len(sources) == 1 else SPREAD_SHARE
        _lend(lent, sources, share * (candidate.relevance or 0.0))
    anchors = _best(lent, NEIGHBOUR_ANCHORS)
    around = await episode_repo.neighbour_ids(
        session, tenant_id=tenant_id, subject_id=subject_id, ids=list(anchors)
    )
    for anchor, neighbours in around.items():
        _lend(lent, neighbours, NEIGHBOUR_SHARE * anchors[anchor])
    return _best(lent, RELEVANT_TURNS)


def _lend(lent: dict[uuid.UUID, float], ids: Iterable[uuid.UUID], relevance: float) -> None:
    if relevance <= 0.0:
        return
    for episode_id in ids:
        lent[episode_id] = max(lent.get(episode_id, 0.0), relevance)


def _best(relevance: Mapping[uuid.UUID, float], limit: int) -> dict[uuid.UUID, float]:
    """The ``limit`` most relevant ids, best first (ties: first lent first)."""
    ranked = sorted(relevance, key=lambda i: -relevance[i])[:limit]
    return {i: relevance[i] for i in ranked}


async def _with_sessions(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    pool: list[tuple[MemoryCandidate, Memory]],
) -> list[tuple[MemoryCandidate, Memory]]:
    """Each memory's session (the one its source episodes share, if they share one), so
    compiled messages keep the session signals their raw episodes had."""
    sources = list({e for candidate, _ in pool for e in candidate.source_episode_ids})
    session_of = await episode_repo.session_ids(
        session, tenant_id=tenant_id, subject_id=subject_id, ids=sources
    )
    updated = []
    for candidate, memory in pool:
        found = {session_of.get(e) for e in candidate.source_episode_ids}
        if len(found) == 1 and None not in found:
            candidate = replace(candidate, session_id=found.pop())
        updated.append((candidate, memory))
    return updated


def _memory_candidate(memory: Memory, relevance: float | None) -> MemoryCandidate:
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
        relevance=relevance,
    )


def _episode_candidate(view: EpisodeView, relevance: float | None) -> EpisodeCandidate:
    text = episode_text(view.payload) if view.payload is not None else view.cut_text or ""
    return EpisodeCandidate(
        id=view.id,
        source=view.source,
        type=view.type,
        text=text[:EPISODE_TEXT_CHARS],
        created_at=view.occurred_at,
        session_id=view.session_id,
        relevance=relevance,
    )


async def _session_state(session: AsyncSession, *, tenant_id: str, subject_id: str) -> SessionState:
    resolutions = await newest_resolutions(
        session, tenant_id=tenant_id, subject_id=subject_id, limit=RESOLUTIONS
    )
    return SessionState(
        resolved_session_ids=frozenset(r.session_id for r in resolutions if r.status == "resolved"),
        open_session_ids=frozenset(r.session_id for r in resolutions if r.status == "open"),
        resolution_summaries={
            r.session_id: r.resolution_summary for r in resolutions if r.resolution_summary
        },
    )
