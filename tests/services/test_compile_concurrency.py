"""Concurrent compiles of one subject on real PostgreSQL: the newest statement (by event
time) is the one left active, however ingest and compiles interleave."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db.models import Memory
from statewave_server.db.subjects import lock_subject
from statewave_server.errors import CompileInProgress
from statewave_server.services.compilation import compile_now, compile_subject
from statewave_server.services.episodes import NewEpisode, record_episode
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings
from tests.fixtures.factories import database_for

CITIES = ["Paris", "Madrid", "Lisbon", "Oslo", "Vienna", "Prague", "Dublin", "Athens"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
ROUNDS = 30


async def _active_homes(engine: AsyncEngine, subject_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            select(Memory.content).where(
                Memory.subject_id == subject_id,
                Memory.kind == "profile_fact",
                Memory.status == "active",
            )
        )
        return [c for c in rows if "live in" in c.lower()]


async def test_eight_concurrent_compiles_keep_the_newest_statement(engine: AsyncEngine) -> None:
    runtime = build_runtime(Settings(embedding_provider="hash"))
    database = database_for(engine)
    rng = random.Random(13)
    wrong: list[tuple[str, list[str]]] = []
    for round_ in range(ROUNDS):
        subject = f"movers-{round_}"
        # Each city is said one day after the previous one; they arrive in random order
        # and each arrival starts a compile while the earlier compiles still run.
        order = list(range(len(CITIES)))
        rng.shuffle(order)
        compiles = []
        for day in order:
            episode = NewEpisode(
                subject_id=subject,
                source="chat",
                type="message",
                payload={"text": f"I live in {CITIES[day]}"},
                occurred_at=T0 + timedelta(days=day),
            )
            await record_episode(database.primary, runtime.events, "", episode)
            compiles.append(
                asyncio.create_task(
                    compile_now(database.primary, runtime, tenant_id="", subject_id=subject)
                )
            )
        await asyncio.gather(*compiles)
        homes = await _active_homes(engine, subject)
        if homes != [f"I live in {CITIES[-1]}"]:
            wrong.append((subject, homes))
    assert wrong == [], f"{len(wrong)}/{ROUNDS} rounds ended wrong: {wrong[:3]}"


async def test_a_compile_that_cannot_get_the_subject_in_time_is_refused(
    engine: AsyncEngine,
) -> None:
    runtime = build_runtime(Settings(embedding_provider="hash"))
    database = database_for(engine)
    episode = NewEpisode(
        subject_id="busy", source="chat", type="message", payload={"text": "I live in Rome"}
    )
    await record_episode(database.primary, runtime.events, "", episode)
    async with database.primary.begin() as holder:
        assert await lock_subject(holder, tenant_id="", subject_id="busy", wait_seconds=0)
        with pytest.raises(CompileInProgress):
            async with database.primary.begin() as session:
                await compile_subject(
                    session, runtime, tenant_id="", subject_id="busy", lock_wait_seconds=0.3
                )
    assert (
        await compile_now(database.primary, runtime, tenant_id="", subject_id="busy") != []
    )  # free again
