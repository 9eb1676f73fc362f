"""Memory search: by kind, by text, or hybrid with semantics.

Text search keeps the original server's meaning of ``q``: a memory matches when its
content contains the query (case-insensitive), so "Frank xyz" never returns memories
that merely mention Frank. Among the matches, those ranked by BM25 over the stored
lexemes come first, the rest newest first. In semantic mode the cosine neighbours of the
query's embedding (from the subject's in-memory index, ``services/memory_index``) are
fused with that ranking by reciprocal rank, so a paraphrase with no shared words still
finds its memory. Without an embedder, or with no embedded memories, it is text search.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import memories as repo
from statewave_server.db.index_rows import query_lexemes
from statewave_server.db.models import Memory
from statewave_server.db.read_routing import SessionFactory
from statewave_server.services.context.fusion import rrf_scores
from statewave_server.services.memory_index import SubjectIndex
from statewave_server.services.runtime import MemoryRuntime

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[uuid.UUID]]) -> list[uuid.UUID]:
    """Ids by the sum of ``1 / (k + rank)`` over the rankings (ties: first seen)."""
    scores = rrf_scores(rankings, RRF_K)
    return sorted(scores, key=lambda memory_id: -scores[memory_id])


async def search_memories(
    db: SessionFactory,
    runtime: MemoryRuntime,
    *,
    tenant_id: str,
    subject_id: str,
    kind: str | None,
    query: str | None,
    semantic: bool,
    limit: int,
) -> list[Memory]:
    """Active memories of the subject matching the request, best first."""
    if limit <= 0:
        return []
    embedder = runtime.embedder if semantic else None
    async with db() as session:
        if not query:
            return await repo.newest_active(
                session, tenant_id=tenant_id, subject_id=subject_id, kind=kind, limit=limit
            )
        # The query's embedding is computed (in the model's thread) while the database works.
        vector = asyncio.create_task(embedder.embed_query(query)) if embedder else None
        try:
            index = await runtime.memory_index.get(
                session,
                tenant_id=tenant_id,
                subject_id=subject_id,
                model=embedder.model if embedder else None,
            )
            rankings = [await _text_ranking(session, index, query, kind=kind, limit=limit)]
            if vector is not None:
                hits = index.nearest(await vector, limit=limit, kind=kind)
                rankings.insert(0, [hit.id for hit in hits])
        finally:
            if vector is not None:
                vector.cancel()  # no-op once awaited; stops a failed request's embedding
        ordered = reciprocal_rank_fusion(rankings)
        rows = {
            m.id: m
            for m in await repo.active_by_ids(
                session, tenant_id=tenant_id, subject_id=subject_id, ids=ordered
            )
        }
    return [rows[memory_id] for memory_id in ordered if memory_id in rows][:limit]


async def _text_ranking(
    session: AsyncSession, index: SubjectIndex, query: str, *, kind: str | None, limit: int
) -> list[uuid.UUID]:
    """Memories containing ``query``: best BM25 first, then the others newest first."""
    everything = len(index)
    containing = index.containing(query, limit=everything, kind=kind, exclude=())
    if not containing:
        return []
    matches = set(containing)
    terms = await query_lexemes(session, query)
    ranked = [hit.id for hit in index.lexical(terms, limit=everything, kind=kind)]
    best = [memory_id for memory_id in ranked if memory_id in matches]
    ranked_set = set(best)
    return (best + [m for m in containing if m not in ranked_set])[:limit]
