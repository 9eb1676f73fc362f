"""The dashboard's last 24 hours against a real database: rows planted at known hours come
back in exactly those hourly buckets, and nothing outside the window is counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from statewave_server.db.engine import Database
from statewave_server.db.models import Episode, WebhookEvent
from statewave_server.services.admin.activity import last_day, webhook_summary
from tests.fixtures.factories import database_for, make_job

# Half past noon: the window is 2026-02-28 13:00 .. 2026-03-01 13:00 UTC, the last hour partial.
NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
DAY_BEFORE = NOW - timedelta(days=1)


def at(hour: int, minute: int = 0, day: datetime = NOW) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


@pytest.fixture
async def database(head_db_url: str) -> AsyncIterator[Database]:
    """A database of this test alone: the series count every row in it."""
    engine: AsyncEngine = create_async_engine(head_db_url)
    yield database_for(engine)
    await engine.dispose()


async def _episodes(database: Database, *times: datetime) -> None:
    async with database.primary.begin() as session:
        for when in times:
            await session.execute(
                insert(Episode).values(
                    id=uuid.uuid4(),
                    subject_id="s",
                    source="test",
                    type="message",
                    payload={},
                    created_at=when,
                    occurred_at=when - timedelta(days=30),  # back-dated: not what is counted
                )
            )


async def _jobs(database: Database, *rows: dict[str, Any]) -> None:
    async with database.primary.begin() as session:
        for row in rows:
            await make_job(session, **row)


async def _events(database: Database, *rows: dict[str, Any]) -> None:
    async with database.primary.begin() as session:
        for row in rows:
            await session.execute(
                insert(WebhookEvent).values(event="memories.compiled", payload={}, **row)
            )


def _by_hour(hours: list[datetime], counts: list[int]) -> dict[str, int]:
    return {f"{h:%d %H}": n for h, n in zip(hours, counts, strict=True) if n}


async def test_episodes_per_recorded_hour(database: Database) -> None:
    await _episodes(
        database,
        *[at(10, 5)] * 3,
        *[at(10, 55)] * 2,
        at(12, 10),
        at(13, 0, DAY_BEFORE),  # the window's first instant: counted
        at(12, 59, DAY_BEFORE),  # a minute before the window: not counted
        NOW + timedelta(hours=2),  # after the window (a skewed clock): not counted
    )
    day = await last_day(database.primary, NOW)
    assert len(day.hours) == 24
    assert day.hours[0] == at(13, 0, DAY_BEFORE) and day.hours[-1] == at(12)
    assert _by_hour(day.hours, day.episodes) == {"28 13": 1, "01 10": 5, "01 12": 1}


async def test_completed_jobs_and_queue_depth(database: Database) -> None:
    def job(
        status: str, created: datetime, started: datetime | None, done: datetime | None
    ) -> dict[str, Any]:
        return {"status": status, "created_at": created, "started_at": started} | {
            "completed_at": done
        }

    await _jobs(
        database,
        # Two completions at 11:xx and one at 09:xx; each started within the hour it was
        # created, so none is waiting at an hour's end.
        job("completed", at(11, 10), at(11, 15), at(11, 20)),
        job("completed", at(11, 12), at(11, 16), at(11, 40)),
        job("completed", at(8, 50), at(8, 55), at(9, 0)),
        # Dead, not completed: not in the completions.
        job("dead", at(11, 1), at(11, 2), at(11, 30)),
        # Waited from 08:10 to 09:30: waiting at the end of hour 08 only.
        job("completed", at(8, 10), at(9, 30), at(9, 40)),
        # Still pending since 10:30: waiting at the end of hours 10, 11 and 12.
        job("pending", at(10, 30), None, None),
        # Created before the window, started at 14:30 the day before: waiting at 14:00;
        # completed in the window's second hour.
        job("completed", at(5, 0, DAY_BEFORE), at(14, 30, DAY_BEFORE), at(14, 31, DAY_BEFORE)),
        # Completed the day before the window: in neither series.
        job("completed", at(3, 0, DAY_BEFORE), at(3, 1, DAY_BEFORE), at(3, 2, DAY_BEFORE)),
    )
    day = await last_day(database.primary, NOW)
    assert _by_hour(day.hours, day.jobs_completed) == {"28 14": 1, "01 09": 2, "01 11": 2}
    assert _by_hour(day.hours, day.queue_depth) == {
        "28 13": 1,  # at 14:00 the day before
        "01 08": 1,
        "01 10": 1,
        "01 11": 1,
        "01 12": 1,
    }


async def test_webhook_outcomes_and_summary(database: Database) -> None:
    await _events(
        database,
        {"status": "delivered", "delivered_at": at(12, 5), "last_attempt_at": at(12, 5)},
        {"status": "delivered", "delivered_at": at(12, 6), "last_attempt_at": at(12, 6)},
        {"status": "delivered", "delivered_at": at(11, 15), "last_attempt_at": at(11, 15)},
        {"status": "dead_letter", "last_attempt_at": at(12, 20), "last_error": "HTTP 410"},
        {"status": "pending", "last_attempt_at": at(11, 40), "last_error": "ConnectError"},
        {"status": "pending"},  # never tried: no outcome yet
        {"status": "delivering", "last_attempt_at": at(12, 25)},  # in flight: no outcome
        # Two days old: outside the window, but still the newest ever of nothing newer.
        {"status": "delivered", "delivered_at": NOW - timedelta(days=2)},
    )
    day = await last_day(database.primary, NOW)
    assert _by_hour(day.hours, day.delivered) == {"01 11": 1, "01 12": 2}
    assert _by_hour(day.hours, day.failed) == {"01 11": 1, "01 12": 1}
    summary = await webhook_summary(database.primary, NOW)
    assert (summary.delivered, summary.failed) == (3, 2)
    assert summary.last_delivered_at == at(12, 6)
    assert summary.last_failed_at == at(12, 20)


async def test_an_empty_day_is_24_zeros(database: Database) -> None:
    day = await last_day(database.primary, NOW)
    for series in (day.episodes, day.jobs_completed, day.delivered, day.failed, day.queue_depth):
        assert series == [0] * 24
    summary = await webhook_summary(database.primary, NOW)
    assert (summary.delivered, summary.failed, summary.last_delivered_at) == (0, 0, None)


async def test_the_current_series_are_reused_for_a_minute(database: Database) -> None:
    first = await last_day(database.primary)
    await _episodes(database, datetime.now(UTC))
    assert await last_day(database.primary) is first  # within CACHE_SECONDS: not recomputed
    assert sum(first.episodes) == 0
    assert sum((await last_day(database.primary, datetime.now(UTC))).episodes) == 1
