"""``jobs purge``, ``webhooks purge`` and ``jobs rescue ID`` as real processes, on the
database and through a server's ``/admin`` API (``--url``).

A purge counts first ("would delete N"), asks a person at a (pseudo-)terminal, and refuses
(exit 2, nothing deleted) a script that did not pass ``--yes``. Rescue by id takes exactly
one silent running job; a live or unknown one is an error (exit 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import REPO_ROOT
from devtools.server import RunningServer, clean_env
from statewave_server.db.engine import Database
from statewave_server.db.models import Job, WebhookEvent
from statewave_server.db.outbox import record_event
from tests.cli.conftest import API_KEY, in_terminal
from tests.fixtures.factories import database_for, make_job, make_orphan, minutes_ago

pytestmark = pytest.mark.slow

STATEWAVE = Path(sys.executable).parent / "statewave"


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[Database]:
    engine = create_async_engine(database_url)
    yield database_for(engine)
    await engine.dispose()


def _env(database_url: str, server: RunningServer | None) -> dict[str, str]:
    """On the database itself, or (with a server) through its API with only URL and key."""
    if server is None:
        return clean_env(STATEWAVE_DATABASE_URL=database_url)
    return clean_env(STATEWAVE_URL=server.base_url, STATEWAVE_API_KEY=API_KEY)


def statewave(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Stdin is not a terminal here, as in a script or a cron job."""
    return subprocess.run(
        [str(STATEWAVE), *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _jobs(db: Database, tenant: str, *statuses: str) -> None:
    async with db.primary() as session, session.begin():
        for status in statuses:
            await make_job(session, tenant_id=tenant, status=status, created_at=minutes_ago(3000))


async def _count(db: Database, model: type[Job] | type[WebhookEvent], tenant: str) -> int:
    async with db.primary() as session:
        stmt = select(func.count()).select_from(model).where(model.tenant_id == tenant)
        return int(await session.scalar(stmt) or 0)


@pytest.mark.parametrize("remote", [False, True], ids=["database", "url"])
async def test_job_purge_counts_then_needs_yes_off_a_terminal(
    db: Database, database_url: str, server: RunningServer, remote: bool
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    await _jobs(db, tenant, "completed", "completed", "dead", "pending")
    env = _env(database_url, server if remote else None)
    args = ["jobs", "purge", "--tenant", tenant, "--status", "completed"]

    refused = statewave(env, *args)
    assert refused.returncode == 2, refused.stderr
    assert "Would delete 2 finished job(s) (status completed, tenant " in refused.stderr
    assert "pass --yes" in refused.stderr and refused.stdout == ""
    as_json = statewave(env, *args, "--json")
    assert as_json.returncode == 2 and as_json.stdout == "" and "with --json" in as_json.stderr
    assert await _count(db, Job, tenant) == 4  # refusals delete nothing

    counted = statewave(env, *args, "--dry-run", "--json")
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout) == {"deleted": 0, "matched": 2, "dry_run": True}
    done = statewave(env, *args, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"deleted": 2, "matched": 2, "dry_run": False}
    assert await _count(db, Job, tenant) == 2  # the dead and the pending job stay
    human = statewave(env, "jobs", "purge", "--tenant", tenant, "--yes")
    assert human.returncode == 0 and "Deleted 1 finished job(s)" in human.stdout
    nothing = statewave(env, "jobs", "purge", "--tenant", tenant, "--yes")
    assert "Nothing to delete" in nothing.stdout and await _count(db, Job, tenant) == 1


@pytest.mark.parametrize("remote", [False, True], ids=["database", "url"])
async def test_purge_asks_at_a_terminal(
    db: Database, database_url: str, server: RunningServer, remote: bool
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    await _jobs(db, tenant, "dead")
    env = _env(database_url, server if remote else None)
    code, shown = in_terminal([str(STATEWAVE), "jobs", "purge", "--tenant", tenant], env, "n\n")
    assert code == 1 and "Would delete 1 finished job(s)" in shown and "Delete them?" in shown
    assert "nothing deleted" in shown and await _count(db, Job, tenant) == 1
    code, shown = in_terminal([str(STATEWAVE), "jobs", "purge", "--tenant", tenant], env, "y\n")
    assert code == 0 and "Deleted 1 finished job(s)" in shown, shown
    assert await _count(db, Job, tenant) == 0


@pytest.mark.parametrize("remote", [False, True], ids=["database", "url"])
async def test_webhook_purge(
    db: Database, database_url: str, server: RunningServer, remote: bool
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    async with db.primary() as session, session.begin():
        for status in ("delivered", "dead_letter", "pending"):
            await record_event(session, tenant, "memories.compiled", {})
            await session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.tenant_id == tenant, WebhookEvent.status == "pending")
                .values(status=status)
            )
    env = _env(database_url, server if remote else None)
    refused = statewave(env, "webhooks", "purge", "--tenant", tenant)
    assert refused.returncode == 2 and "Would delete 2 webhook event(s)" in refused.stderr
    assert await _count(db, WebhookEvent, tenant) == 3
    done = statewave(env, "webhooks", "purge", "--tenant", tenant, "--yes", "--json")
    assert json.loads(done.stdout) == {"deleted": 2, "matched": 2, "dry_run": False}
    assert await _count(db, WebhookEvent, tenant) == 1


@pytest.mark.parametrize("remote", [False, True], ids=["database", "url"])
async def test_rescue_one_job_by_id(
    db: Database, database_url: str, server: RunningServer, remote: bool
) -> None:
    async with db.primary() as session, session.begin():
        stuck = await make_orphan(session, minutes=90)
        other = await make_orphan(session, minutes=90)
        live = await make_orphan(session, minutes=90, heartbeat_at=func.now())
    env = _env(database_url, server if remote else None)

    done = statewave(env, "jobs", "rescue", stuck.id[:8], "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["requeued"], report["dead"]) == ([stuck.id], [])
    async with db.primary() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Job.id, Job.status).where(Job.id.in_([stuck.id, other.id, live.id]))
                )
            ).all()
        )
    assert statuses == {stuck.id: "pending", other.id: "running", live.id: "running"}

    alive = statewave(env, "jobs", "rescue", live.id)
    assert alive.returncode == 1 and "still heartbeating" in alive.stderr
    unknown = statewave(env, "jobs", "rescue", uuid.uuid4().hex)
    assert unknown.returncode == 1 and "Job not found" in unknown.stderr
    both = statewave(env, "jobs", "rescue", other.id, "--older-than-minutes", "5")
    assert both.returncode == 2
    async with db.primary() as session, session.begin():  # leave nothing running behind
        ids = [other.id, live.id]
        await session.execute(update(Job).where(Job.id.in_(ids)).values(status="completed"))
