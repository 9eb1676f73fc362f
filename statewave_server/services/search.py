"""Memory search: by kind, by text (full-text + substring), or hybrid with semantics.

Semantic mode fuses the lexical and the vector rankings by reciprocal rank, so a
paraphrase with no shared words still finds its memory, and an exact keyword still
counts. Without an embedder, or with no embedded memories, it is plain text search.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as repo
from statewave_server.db.models import Memory
from statewave_server.services.context.fusion import rrf_scores
from statewave_server.services.runtime import MemoryRuntime

RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Memory]], limit: int) -> list[Memory]:
    """Order by the sum of ``1 / (k + rank)`` over the rankings (ties: first seen)."""
    rows = {memory.id: memory for ranking in rankings for memory in ranking}
    scores = rrf_scores(([m.id for m in ranking] for ranking in rankings), RRF_K)
    ordered = sorted(scores, key=lambda memory_id: -scores[memory_id])
    return [rows[memory_id] for memory_id in ordered[:limit]]


async def search_memories(
    sessions: async_sessionmaker[AsyncSession],
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
    *,
    kind: str | None,
    query: str | None,
    semantic: bool,
    limit: int,
) -> list[Memory]:
    """Active memories of the subject matching the request, best first."""
    async with sessions() as session:
        if not query:
            return await repo.newest_active(session, tenant_id, subject_id, kind=kind, limit=limit)
        lexical = await repo.text_matches(
            session, tenant_id, subject_id, query, kind=kind, limit=limit
        )
        if not semantic or runtime.embedder is None:
            return lexical
        vector = await runtime.embedder.embed_query(query)
        hits = await repo.nearest(
            session,
            tenant_id,
            subject_id,
            vector,
            model=runtime.embedder.model,
            kind=kind,
            limit=limit,
        )
    return reciprocal_rank_fusion([[h.memory for h in hits], lexical], limit)
