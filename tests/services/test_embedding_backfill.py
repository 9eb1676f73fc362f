"""``statewave embeddings backfill``: the service over real PostgreSQL, and the CLI process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import run_cli
from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database
from statewave_server.db.models import Memory
from statewave_server.db.rows import NewMemoryRow
from statewave_server.services.embedding_backfill import (
    BackfillProgress,
    backfill_embeddings,
    run_backfill,
)
from statewave_server.services.embeddings import HashEmbeddingProvider, hash_embedding
from tests.fixtures.factories import database_for, memory_row

CURRENT = HashEmbeddingProvider(384)  # model "hash-sha512-384"
OLD = HashEmbeddingProvider(8)  # model "hash-sha512-8": another model, another size


@pytest.fixture
async def db(head_db_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(head_db_url)
    yield database_for(engine)
    await engine.dispose()


def _row(
    tenant: str, subject: str, content: str, model: HashEmbeddingProvider | None
) -> NewMemoryRow:
    return memory_row(content, subject=subject, tenant=tenant, model=model)


async def _seed(db: Database) -> dict[str, list[uuid.UUID]]:
    """Memories over two tenants and three subjects: missing, old-model and current ones."""
    rows = {
        "missing": [
            _row("", "alice", "Alice works at Globex", None),
            _row("", "alice", "Alice lives in Lyon", None),
            _row("acme", "alice", "Alice (acme) prefers email", None),
            _row("acme", "bob", "Bob uses the Pro plan", None),
        ],
        "old": [
            _row("", "bob", "Bob likes tea", OLD),
            _row("acme", "bob", "Bob reset his password", OLD),
            _row("acme", "carol", "Carol is an admin", OLD),
        ],
        "current": [
            _row("", "alice", "Alice speaks French", CURRENT),
            _row("acme", "carol", "Carol manages billing", CURRENT),
        ],
    }
    async with db.primary.begin() as session:
        for group in rows.values():
            await memory_repo.insert_memories(session, group)
        await session.execute(  # one superseded memory: it is filled as well
            text("UPDATE memories SET status = 'superseded' WHERE content = 'Bob likes tea'")
        )
    return {name: [r.id for r in group] for name, group in rows.items()}


async def _state(db: Database) -> dict[uuid.UUID, tuple[str | None, list[float] | None, str]]:
    async with db.primary() as session:
        rows = (await session.scalars(select(Memory))).all()
        return {
            m.id: (
                m.embedding_model,
                None if m.embedding is None else [float(x) for x in m.embedding],
                m.content,
            )
            for m in rows
        }


async def test_fills_null_and_other_model_vectors_then_does_nothing(db: Database) -> None:
    ids = await _seed(db)
    before = await _state(db)
    async with db.primary() as session:
        assert await memory_repo.count_missing_embeddings(session, CURRENT.model) == 7

    steps: list[BackfillProgress] = []
    final = await run_backfill(db.primary, CURRENT, batch_size=2, on_progress=steps.append)

    assert (final.model, final.total, final.processed, final.updated) == (CURRENT.model, 7, 7, 7)
    assert final.batches == 4  # 2 + 2 + 2 + 1
    assert [s.processed for s in steps] == [0, 2, 4, 6, 7]
    after = await _state(db)
    for memory_id in ids["missing"] + ids["old"]:
        model, vector, content = after[memory_id]
        assert model == CURRENT.model
        assert vector == pytest.approx(hash_embedding(content, 384), abs=1e-6)
    for memory_id in ids["current"]:
        assert after[memory_id] == before[memory_id]  # already current: untouched
    async with db.primary() as session:
        assert await memory_repo.count_missing_embeddings(session, CURRENT.model) == 0

    again = [step async for step in backfill_embeddings(db.primary, CURRENT, batch_size=2)]
    assert again == [BackfillProgress(CURRENT.model, 0, 0, 0, 0)]
    assert await _state(db) == after


async def test_pages_follow_the_tenant_subject_id_key(db: Database) -> None:
    await _seed(db)
    seen: list[tuple[str, str, uuid.UUID]] = []
    after = None
    async with db.primary() as session:
        while page := await memory_repo.missing_embeddings_page(
            session, CURRENT.model, after=after, limit=3
        ):
            keys = [(m.tenant_id, m.subject_id, m.id) for m in page]
            seen.extend(keys)
            after = keys[-1]
    assert len(seen) == 7 and seen == sorted(seen) and len(set(seen)) == 7


async def test_rejects_a_bad_batch_size(db: Database) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await run_backfill(db.primary, CURRENT, batch_size=0)


def _cli(url: str, *args: str) -> Any:
    env = {"STATEWAVE_EMBEDDING_PROVIDER": "hash", "COLUMNS": "200"}
    return run_cli(["statewave_server", "embeddings", "backfill", *args], url, extra_env=env)


async def test_cli_backfill_json_counts_and_exit_codes(db: Database, head_db_url: str) -> None:
    ids = await _seed(db)
    done = await asyncio.to_thread(_cli, head_db_url, "--batch-size", "3", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {
        "model": CURRENT.model,
        "total": 7,
        "processed": 7,
        "updated": 7,
        "batches": 3,
        "remaining": 0,
    }
    state = await _state(db)
    assert {state[i][0] for i in ids["missing"] + ids["old"]} == {CURRENT.model}

    rerun = await asyncio.to_thread(_cli, head_db_url, "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["updated"] == 0

    human = await asyncio.to_thread(_cli, head_db_url)
    assert human.returncode == 0, human.stderr
    assert "Embedded 0 memory(ies)" in human.stdout and "0 remaining" in human.stdout

    assert (await asyncio.to_thread(_cli, head_db_url, "--batch-size", "0")).returncode == 2
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    down = await asyncio.to_thread(_cli, unreachable, "--json")
    assert down.returncode == 1 and "Database error" in down.stderr
