"""Give every memory a vector from the current embedding model (``statewave embeddings backfill``).

A memory needs one when its ``embedding`` is NULL (stored while embeddings were off or
failing) or was made by another ``embedding_model`` (the deployment switched models).
Memories are read in keyset pages ordered by ``(tenant_id, subject_id, id)``, embedded a
page at a time outside any transaction, then updated in one short transaction per page.
Re-running is safe: rows that already carry the current model's vector are never selected.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.db.models import Memory
from statewave_server.services.embeddings import EmbeddingProvider

DEFAULT_BATCH_SIZE = 64

Key = tuple[str, str, uuid.UUID]


@dataclass(frozen=True)
class BackfillProgress:
    """State after one page: ``total`` is the count of memories missing a vector at start."""

    model: str
    total: int
    processed: int
    updated: int
    batches: int


async def backfill_embeddings(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> AsyncIterator[BackfillProgress]:
    """Fill missing vectors page by page, yielding progress after each page.

    The first item (``processed == 0``) announces the total before any work is done.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    model = embedder.model
    total = await count_missing(db, model)
    progress = BackfillProgress(model=model, total=total, processed=0, updated=0, batches=0)
    yield progress
    after: Key | None = None
    while True:
        async with db() as session:
            page = await memory_repo.missing_embeddings_page(
                session, model, after=after, limit=batch_size
            )
        if not page:
            return
        after = (page[-1].tenant_id, page[-1].subject_id, page[-1].id)
        vectors = await embedder.embed_texts([memory.content for memory in page])
        async with db.begin() as session:
            for (tenant_id, subject_id), pairs in _by_subject(page, vectors).items():
                await memory_repo.set_embeddings(
                    session, tenant_id=tenant_id, subject_id=subject_id, vectors=pairs, model=model
                )
        progress = BackfillProgress(
            model=model,
            total=max(total, progress.processed + len(page)),
            processed=progress.processed + len(page),
            updated=progress.updated + len(page),
            batches=progress.batches + 1,
        )
        yield progress


def _by_subject(
    page: Sequence[Memory], vectors: Sequence[Sequence[float]]
) -> dict[tuple[str, str], list[tuple[uuid.UUID, Sequence[float]]]]:
    grouped: dict[tuple[str, str], list[tuple[uuid.UUID, Sequence[float]]]] = defaultdict(list)
    for memory, vector in zip(page, vectors, strict=True):
        grouped[(memory.tenant_id, memory.subject_id)].append((memory.id, vector))
    return grouped


async def run_backfill(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillProgress:
    """Run the whole backfill; ``on_progress`` sees every step. Returns the final state."""
    last: BackfillProgress | None = None
    async for step in backfill_embeddings(db, embedder, batch_size=batch_size):
        last = step
        if on_progress is not None:
            on_progress(step)
    assert last is not None  # the generator always yields the initial state
    return last


async def count_missing(db: async_sessionmaker[AsyncSession], model: str) -> int:
    """Memories still without a vector from ``model`` (what a backfill would embed)."""
    async with db() as session:
        return await memory_repo.count_missing_embeddings(session, model)
