"""The compilation_jobs repository against real PostgreSQL: claims, guards, orphans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from statewave_server.db import jobs
from statewave_server.db.engine import Database
from statewave_server.db.models import Job
from tests.fixtures.factories import (
    load_job,
    make_job,
    make_orphan,
    minutes_ago,
)
from tests.fixtures.runbook import RESET_STUCK_JOBS_SQL


async def _claim(db: Database, worker: str) -> Job | None:
    async with db.primary() as session, session.begin():
        return await jobs.claim_next(session, worker)


async def test_enqueue_creates_a_runnable_pending_job(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await jobs.enqueue(
            session, kind="noop", tenant_id="t1", subject_id="s1", payload={"a": 1}, max_attempts=4
        )
    assert len(job.id) == 32 and int(job.id, 16) >= 0
    stored = await load_job(db, job.id)
    assert (stored.status, stored.attempts, stored.max_attempts) == ("pending", 0, 4)
    assert stored.payload == {"a": 1} and stored.tenant_id == "t1"
    assert stored.run_after <= datetime.now(UTC)


async def test_claim_sets_ownership_fields(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session)
    claimed = await _claim(db, "w1")
    assert claimed is not None and claimed.id == job.id
    stored = await load_job(db, job.id)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("running", "w1", 1)
    assert stored.claimed_at and stored.heartbeat_at and stored.started_at
    assert await _claim(db, "w2") is None


async def test_concurrent_claimers_skip_locked_rows(db: Database) -> None:
    """A claim held open in one transaction is invisible to another, which takes the next."""
    async with db.primary() as session, session.begin():
        first = await make_job(session, run_after=minutes_ago(2))
        second = await make_job(session, run_after=minutes_ago(1))
    async with db.primary() as a, db.primary() as b, a.begin():
        got_a = await jobs.claim_next(a, "A")
        async with b.begin():
            got_b = await jobs.claim_next(b, "B")
            async with db.primary() as c, c.begin():
                got_c = await jobs.claim_next(c, "C")
    assert got_a is not None and got_a.id == first.id
    assert got_b is not None and got_b.id == second.id
    assert got_c is None


async def test_claim_respects_run_after_and_kinds(db: Database) -> None:
    async with db.primary() as session, session.begin():
        await make_job(session, run_after=datetime.now(UTC) + timedelta(hours=1))
        other = await make_job(session, kind="other")
    assert await _claim(db, "w") is not None  # the "other" job: any kind by default
    async with db.primary() as session, session.begin():
        await make_job(session, kind="other")
        assert await jobs.claim_next(session, "w", kinds=["noop"]) is None
    assert (await load_job(db, other.id)).claimed_by == "w"


async def test_heartbeat_and_complete_only_for_the_owner(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session)
    await _claim(db, "owner")
    async with db.primary() as session, session.begin():
        assert await jobs.heartbeat(session, [job.id], "owner") == {job.id}
        assert not await jobs.heartbeat(session, [job.id], "intruder")
        assert not await jobs.complete(session, job.id, "intruder", {"x": 1})
        assert await jobs.complete(session, job.id, "owner", {"memories_created": 2})
        assert not await jobs.heartbeat(session, [job.id], "owner")
    stored = await load_job(db, job.id)
    assert (stored.status, stored.memories_created, stored.result) == (
        "completed",
        2,
        {"memories_created": 2},
    )
    assert stored.completed_at is not None


async def test_fail_backs_off_then_buries_with_the_error(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session, max_attempts=2)
    await _claim(db, "w")
    async with db.primary() as session, session.begin():
        assert await jobs.fail(session, job.id, "w", "boom 1", 120) == "pending"
    retry = await load_job(db, job.id)
    assert retry.error == "boom 1" and retry.claimed_by is None and retry.claimed_at is None
    assert retry.run_after > datetime.now(UTC) + timedelta(seconds=100)
    assert await _claim(db, "w") is None  # backing off
    async with db.primary() as session, session.begin():
        await session.execute(text("UPDATE compilation_jobs SET run_after = now()"))
    assert (await _claim(db, "w")) is not None
    async with db.primary() as session, session.begin():
        assert await jobs.fail(session, job.id, "intruder", "nope", 0) is None
        assert await jobs.fail(session, job.id, "w", "boom 2", 0) == "dead"
    dead = await load_job(db, job.id)
    assert (dead.status, dead.attempts, dead.error) == ("dead", 2, "boom 2")
    assert dead.completed_at is not None
    assert await _claim(db, "w") is None


async def test_orphan_detection_uses_heartbeat_else_claim(db: Database) -> None:
    async with db.primary() as session, session.begin():
        orphan = await make_orphan(session, minutes=31)
        await make_orphan(session, minutes=31, heartbeat_at=minutes_ago(1))  # alive
        await make_orphan(session, minutes=29)  # not yet
        await make_job(session, status="completed", claimed_at=minutes_ago(60))  # finished
    async with db.primary() as session:
        assert await jobs.count_orphaned_jobs(session, 1800) == 1
        assert await jobs.count_orphaned_jobs(session, 1700) == 2
    async with db.primary() as session, session.begin():
        swept = await jobs.rescue_orphaned_jobs(session, 1800)
    assert swept == jobs.RecoveredJobs(requeued=[orphan.id], dead=[])
    stored = await load_job(db, orphan.id)
    assert stored.status == "pending" and stored.claimed_by is None
    assert stored.error and "dead-host:1:deadbeef" in stored.error
    async with db.primary() as session:
        assert await jobs.count_orphaned_jobs(session, 1800) == 0
    claimed = await _claim(db, "rescuer")
    assert claimed is not None and claimed.id == orphan.id and claimed.attempts == 2


async def test_orphan_without_attempts_left_is_buried(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_orphan(session, attempts=3, max_attempts=3)
    async with db.primary() as session, session.begin():
        swept = await jobs.rescue_orphaned_jobs(session, 1800)
    assert swept == jobs.RecoveredJobs(requeued=[], dead=[job.id])
    assert (await load_job(db, job.id)).status == "dead"


async def test_runbook_sql_returns_a_stuck_job_to_the_queue(db: Database) -> None:
    async with db.primary() as session, session.begin():
        stuck = await make_orphan(session, minutes=45)
        await make_orphan(session, minutes=5)
    async with db.primary() as session, session.begin():
        result = await session.execute(text(RESET_STUCK_JOBS_SQL))
    assert result.rowcount == 1  # type: ignore[attr-defined]
    claimed = await _claim(db, "after-runbook")
    assert claimed is not None and claimed.id == stuck.id


async def test_get_job_is_tenant_scoped_and_list_filters(db: Database) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session, tenant_id="acme")
        await make_job(session, status="dead")
    async with db.primary() as session:
        assert await jobs.get_job(session, job.id, tenant_id="acme") is not None
        assert await jobs.get_job(session, job.id, tenant_id="other") is None
        assert await jobs.get_job(session, job.id, tenant_id="") is None
        assert await jobs.get_job(session, job.id, tenant_id=None) is not None  # operator
        unfiltered = {"subject_id": None, "tenant_id": None, "kind": None}
        dead = await jobs.list_jobs(session, status="dead", limit=50, **unfiltered)
        assert [j.status for j in dead.jobs] == ["dead"] and dead.total == 1
        page = await jobs.list_jobs(session, status=None, limit=1, **unfiltered)
        assert len(page.jobs) == 1 and page.total == 2
        acme = await jobs.list_jobs(
            session, status=None, limit=50, **{**unfiltered, "tenant_id": "acme"}
        )
        assert [j.id for j in acme.jobs] == [job.id]
