"""Body of ``statewave embeddings backfill``: the service's backfill with a progress bar."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.exc import SQLAlchemyError

from statewave_server.cli import local, output
from statewave_server.cli.db_errors import database_failure
from statewave_server.errors import StatewaveError
from statewave_server.services.embedding_backfill import (
    BackfillProgress,
    count_missing,
    run_backfill,
)
from statewave_server.services.embeddings import EmbeddingProvider
from statewave_server.services.runtime import build_embedder
from statewave_server.settings import Settings


async def _backfill(
    settings: Settings, embedder: EmbeddingProvider, batch_size: int, bar: Progress
) -> tuple[BackfillProgress, int]:
    task = bar.add_task("backfill", total=None, model=embedder.model)

    def show(step: BackfillProgress) -> None:
        bar.update(task, total=step.total, completed=step.processed)

    async def work(db: local.Db) -> tuple[BackfillProgress, int]:
        final = await run_backfill(db, embedder, batch_size=batch_size, on_progress=show)
        return final, await count_missing(db, embedder.model)

    return await local.with_database(settings, work)


async def backfill_command(settings: Settings, batch_size: int, as_json: bool) -> int:
    """Exit 0 on success, 1 when embeddings are off, the model or the database fails."""
    err = Console(stderr=True)
    try:
        embedder = await asyncio.to_thread(build_embedder, settings)
    except (StatewaveError, ValueError) as exc:
        err.print(f"[red]Embedding provider error:[/red] {exc}")
        return 1
    if embedder is None:
        err.print("[red]Embeddings are disabled[/red] (STATEWAVE_EMBEDDING_PROVIDER=none).")
        return 1
    progress = Progress(
        TextColumn("[bold]Embedding memories[/bold] ({task.fields[model]})"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=as_json,
        transient=False,
    )
    try:
        with progress as bar:
            final, remaining = await _backfill(settings, embedder, batch_size, bar)
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        err.print(escape(database_failure(exc, settings)), style="red")
        return 1
    except StatewaveError as exc:  # the embedding backend failed or timed out
        err.print(f"[red]Embedding error:[/red] {exc}")
        return 1
    if as_json:
        output.print_json({**asdict(final), "remaining": remaining})
    else:
        Console().print(
            f"Embedded {final.updated} memory(ies) with {final.model} "
            f"in {final.batches} batch(es); {remaining} remaining."
        )
    return 0
