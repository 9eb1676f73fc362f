"""``statewave jobs …`` and ``statewave worker`` as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from devtools.postgres import run_cli
from devtools.worker import worker_subprocess
from statewave_server.db.engine import Database
from statewave_server.db.models import Job
from tests.fixtures.factories import load_job, make_job, make_orphan, wait_until

FAST_ENV = {
    "STATEWAVE_JOB_POLL_INTERVAL_SECONDS": "0.05",
    "STATEWAVE_JOB_HEARTBEAT_SECONDS": "0.2",
}


async def _cli(args: list[str], url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, ["statewave_server", *args], url, extra_env=env)


async def test_jobs_rescue_returns_orphans_to_pending(db: Database, head_db_url: str) -> None:
    async with db.primary() as session, session.begin():
        orphan = await make_orphan(session, minutes=31)
        alive = await make_orphan(session, minutes=5)
    done = await _cli(["jobs", "rescue"], head_db_url)
    assert done.returncode == 0, done.stderr
    assert "Returned 1 job(s) to pending" in done.stdout and orphan.id in done.stdout
    assert (await load_job(db, orphan.id)).status == "pending"
    assert (await load_job(db, alive.id)).status == "running"

    as_json = await _cli(["jobs", "rescue", "--older-than-minutes", "4", "--json"], head_db_url)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["requeued"] == [alive.id] and report["older_than_seconds"] == 240


async def test_jobs_list_json_and_table(db: Database, head_db_url: str) -> None:
    async with db.primary() as session, session.begin():
        pending = await make_job(session, subject_id="alice")
        await make_job(session, status="dead", error="boom")
    listed = await _cli(["jobs", "list", "--json"], head_db_url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["jobs"]
    assert {r["status"] for r in rows} == {"pending", "dead"}
    only_dead = json.loads(
        (await _cli(["jobs", "list", "--status", "dead", "--json"], head_db_url)).stdout
    )
    assert [(r["status"], r["error"]) for r in only_dead["jobs"]] == [("dead", "boom")]
    table = await _cli(["jobs", "list"], head_db_url, COLUMNS="250")
    assert table.returncode == 0 and pending.id[:8] in table.stdout and "alice" in table.stdout
    shown = json.loads((await _cli(["jobs", "show", pending.id[:8], "--json"], head_db_url)).stdout)
    assert (shown["job_id"], shown["payload"]) == (pending.id, pending.payload)
    mine = json.loads(
        (await _cli(["jobs", "list", "--subject", "alice", "--json"], head_db_url)).stdout
    )
    assert [row["job_id"] for row in mine["jobs"]] == [pending.id]


async def test_jobs_commands_exit_codes_on_bad_input(head_db_url: str) -> None:
    assert (await _cli(["jobs", "list", "--status", "bogus"], head_db_url)).returncode == 2
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    down = await _cli(["jobs", "rescue"], unreachable, STATEWAVE_DB_CONNECT_TIMEOUT_SECONDS="2")
    assert down.returncode == 1 and "Database error" in down.stderr


@contextmanager
def worker_process(url: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m statewave_server worker`` against ``url``; killed if still alive at exit."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    full_env.update({"STATEWAVE_DATABASE_URL": url, **FAST_ENV, **env})
    with worker_subprocess(full_env, log) as proc:
        yield proc


async def _wait_for(db: Database, job_id: str, condition: str) -> Job:
    """Poll until the job satisfies a SQL condition on ``compilation_jobs``; return it."""
    sql = text(f"SELECT count(*) FROM compilation_jobs WHERE id = :id AND {condition}")

    async def holds() -> bool:
        async with db.primary() as session:
            return bool(await session.scalar(sql, {"id": job_id}))

    await wait_until(holds, within=30)
    return await load_job(db, job_id)


@pytest.mark.slow
async def test_killed_worker_job_is_recovered_and_completed_by_another(
    db: Database, head_db_url: str, tmp_path: Path
) -> None:
    async with db.primary() as session, session.begin():
        job = await make_job(session, kind="sleep", payload={"seconds": 120})
    log = tmp_path / "workers.log"
    with worker_process(head_db_url, log) as first:
        held = await _wait_for(db, job.id, "status = 'running' AND heartbeat_at > started_at")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    stuck = await load_job(db, job.id)
    await asyncio.sleep(0.8)  # four heartbeat periods: a live worker would have beaten
    assert (stuck.status, stuck.claimed_by) == ("running", held.claimed_by)
    assert (await load_job(db, job.id)).heartbeat_at == stuck.heartbeat_at
    async with db.primary() as session, session.begin():  # the rerun need not sleep again
        await session.execute(
            text("UPDATE compilation_jobs SET payload = '{\"seconds\": 0}' WHERE id = :id"),
            {"id": job.id},
        )
    with worker_process(head_db_url, log, STATEWAVE_JOB_ORPHAN_AFTER_SECONDS="0.5") as second:
        done = await _wait_for(db, job.id, "status = 'completed'")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 15) == 0
    assert done.claimed_by != held.claimed_by and done.attempts == 2
    events = [
        json.loads(line)["event"] for line in log.read_text().splitlines() if line.startswith("{")
    ]
    assert {"job_claimed", "jobs_recovered", "job_completed", "worker_stopped"} <= set(events)
