"""Health cache and alerts against a real database: once per transition, same transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db.engine import Database
from statewave_server.db.models import Resolution
from statewave_server.services.events import EventSink
from statewave_server.services.support.alerts import assess_health, record_health
from statewave_server.services.support.health import HealthReport
from tests.fixtures.factories import database_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ON = EventSink(enabled=True)


@pytest.fixture(scope="module")
def database(engine: AsyncEngine) -> Database:
    return database_for(engine)


def report(state: str, score: int) -> HealthReport:
    return HealthReport(score, state, ())


async def _record(database: Database, tenant: str, subject: str, state: str) -> str | None:
    score = {"healthy": 90, "watch": 50, "at_risk": 10}[state]
    async with database.primary.begin() as session:
        return await record_health(
            session, ON, tenant_id=tenant, subject_id=subject, report=report(state, score), now=NOW
        )


async def _events(engine: AsyncEngine, subject: str) -> list[tuple[str, str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tenant_id, event, payload->'data'->>'previous_state', "
                "payload->'data'->>'current_state' FROM webhook_events "
                "WHERE payload->'data'->>'subject_id' = :s ORDER BY created_at, id"
            ),
            {"s": subject},
        )
        return [(t, e, p, c) for t, e, p, c in rows]


async def test_each_transition_fires_once(database: Database, engine: AsyncEngine) -> None:
    sequence = ["healthy", "watch", "watch", "at_risk", "at_risk", "watch", "healthy", "healthy"]
    fired = [await _record(database, "t", "walk", state) for state in sequence]
    assert fired == [
        None,
        "subject.health_degraded",
        None,
        "subject.health_degraded",
        None,
        "subject.health_improved",
        "subject.health_improved",
        None,
    ]
    assert [e[1:] for e in await _events(engine, "walk")] == [
        ("subject.health_degraded", "healthy", "watch"),
        ("subject.health_degraded", "watch", "at_risk"),
        ("subject.health_improved", "at_risk", "watch"),
        ("subject.health_improved", "watch", "healthy"),
    ]


async def test_first_unhealthy_computation_degrades(database: Database) -> None:
    assert await _record(database, "t", "fresh", "at_risk") == "subject.health_degraded"


async def test_cache_is_per_tenant(database: Database, engine: AsyncEngine) -> None:
    assert await _record(database, "a", "shared", "at_risk") == "subject.health_degraded"
    # Tenant b's first computation is its own: a's at_risk does not make b "improve".
    assert await _record(database, "b", "shared", "healthy") is None
    assert await _record(database, "a", "shared", "at_risk") is None
    events = await _events(engine, "shared")
    assert [(e[0], e[1]) for e in events] == [("a", "subject.health_degraded")]


async def test_a_rolled_back_transaction_leaves_neither_cache_nor_alert(
    database: Database, engine: AsyncEngine
) -> None:
    with pytest.raises(RuntimeError):
        async with database.primary.begin() as session:
            await record_health(
                session,
                ON,
                tenant_id="t",
                subject_id="undone",
                report=report("at_risk", 5),
                now=NOW,
            )
            raise RuntimeError("boom")
    assert await _events(engine, "undone") == []
    async with engine.connect() as conn:
        cached = await conn.scalar(
            text("SELECT count(*) FROM subject_health_cache WHERE subject_id = 'undone'")
        )
    assert cached == 0
    assert await _record(database, "t", "undone", "at_risk") == "subject.health_degraded"


async def test_concurrent_assessments_announce_a_transition_once(
    database: Database, engine: AsyncEngine
) -> None:
    async with database.primary.begin() as session:
        for i in range(4):  # 4 open sessions: 100 - 45 = 55 -> watch
            await session.execute(
                insert(Resolution).values(
                    id=uuid.uuid4(), tenant_id="t", subject_id="race", session_id=f"s{i}"
                )
            )

    async def assess() -> HealthReport:
        async with database.primary.begin() as session:
            return await assess_health(
                session, ON, tenant_id="t", subject_id="race", now=datetime.now(UTC)
            )

    reports = await asyncio.gather(*(assess() for _ in range(6)))
    assert {(r.score, r.state) for r in reports} == {(55, "watch")}
    assert [e[1] for e in await _events(engine, "race")] == ["subject.health_degraded"]


async def test_disabled_sink_still_caches(database: Database, engine: AsyncEngine) -> None:
    async with database.primary.begin() as session:
        off = EventSink(enabled=False)
        fired = await record_health(
            session, off, tenant_id="t", subject_id="quiet", report=report("at_risk", 5), now=NOW
        )
    assert fired == "subject.health_degraded"  # the transition happened; no outbox row
    assert await _events(engine, "quiet") == []
    async with engine.connect() as conn:
        state = await conn.scalar(
            text("SELECT last_state FROM subject_health_cache WHERE subject_id = 'quiet'")
        )
    assert state == "at_risk"
