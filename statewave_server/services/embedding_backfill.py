"""Give every memory a vector from the current embedding model (``statewave embeddings backfill``).

A memory needs one when its ``embedding`` is NULL (stored while embeddings were off or
failing) or was made by another ``embedding_model`` (the deployment switched models).
Memories are read in keyset pages ordered by ``(tenant_id, subject_id, id)``, embedded a
page at a time outside any transaction, then updated in one short transaction per page.
Re-running is safe: rows that already carry the current model's vector are never selected.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.db.models import Memory
from statewave_server.errors import EmbeddingsDisabled, StatewaveError
from statewave_server.services.embeddings import EmbeddingProvider, build_embedding_provider
from statewave_server.settings import Settings

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


def embedder_from_settings(settings: Settings) -> EmbeddingProvider:
    """The configured embedding provider (as the server builds it); raises if disabled."""
    api_key = settings.litellm_api_key.get_secret_value() if settings.litellm_api_key else None
    embedder = build_embedding_provider(
        settings.embedding_provider,
        model=settings.embedding_model,
        dimensions=settings.embedding_dimensions,
        litellm_api_base=settings.litellm_api_base,
        litellm_api_key=api_key,
        timeout_seconds=settings.embedding_timeout_seconds,
        query_cache_entries=0,
    )
    if embedder is None:
        raise EmbeddingsDisabled("Embeddings are disabled (STATEWAVE_EMBEDDING_PROVIDER=none).")
    return embedder


async def backfill_embeddings(
    sessions: async_sessionmaker[AsyncSession],
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
    async with sessions() as session:
        total = await memory_repo.count_missing_embeddings(session, model)
    progress = BackfillProgress(model=model, total=total, processed=0, updated=0, batches=0)
    yield progress
    after: Key | None = None
    while True:
        async with sessions() as session:
            page = await memory_repo.missing_embeddings_page(
                session, model, after=after, limit=batch_size
            )
        if not page:
            return
        after = (page[-1].tenant_id, page[-1].subject_id, page[-1].id)
        vectors = await embedder.embed_texts([memory.content for memory in page])
        async with sessions.begin() as session:
            for (tenant_id, subject_id), pairs in _by_subject(page, vectors).items():
                await memory_repo.set_embeddings(session, tenant_id, subject_id, pairs, model)
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
    sessions: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillProgress:
    """Run the whole backfill; ``on_progress`` sees every step. Returns the final state."""
    last: BackfillProgress | None = None
    async for step in backfill_embeddings(sessions, embedder, batch_size=batch_size):
        last = step
        if on_progress is not None:
            on_progress(step)
    assert last is not None  # the generator always yields the initial state
    return last


async def backfill_command(settings: Settings, batch_size: int, as_json: bool) -> int:
    """Body of ``statewave embeddings backfill``: exit 0 on success, 1 on failure."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    err = Console(stderr=True)
    try:
        embedder = await asyncio.to_thread(embedder_from_settings, settings)
    except (StatewaveError, ValueError) as exc:
        err.print(f"[red]Embedding provider error:[/red] {exc}")
        return 1
    try:
        url = await asyncio.to_thread(resolve_database_url, settings)
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        err.print(f"[red]Database error:[/red] {type(exc).__name__}: {str(exc)[:300]}")
        return 1
    database = Database.from_settings(settings, url)
    try:
        with Progress(
            TextColumn("[bold]Embedding memories[/bold] ({task.fields[model]})"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            disable=as_json,
            transient=False,
        ) as bar:
            task = bar.add_task("backfill", total=None, model=embedder.model)

            def show(step: BackfillProgress) -> None:
                bar.update(task, total=step.total, completed=step.processed)

            final = await run_backfill(
                database.sessions, embedder, batch_size=batch_size, on_progress=show
            )
        async with database.sessions() as session:
            remaining = await memory_repo.count_missing_embeddings(session, embedder.model)
    except (SQLAlchemyError, OSError) as exc:
        err.print(f"[red]Database error:[/red] {type(exc).__name__}: {str(exc)[:300]}")
        return 1
    except StatewaveError as exc:  # the embedding backend failed or timed out
        err.print(f"[red]Embedding error:[/red] {exc}")
        return 1
    finally:
        await database.dispose()
    report = {**asdict(final), "remaining": remaining}
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        Console().print(
            f"Embedded {final.updated} memory(ies) with {final.model} "
            f"in {final.batches} batch(es); {remaining} remaining."
        )
    return 0
