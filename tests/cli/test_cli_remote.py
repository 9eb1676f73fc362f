"""Operator commands against a remote server with only its URL and an API key.

A real uvicorn server on the embedded PostgreSQL (API key on); ``statewave`` runs as a
subprocess (the installed console script) whose environment holds ``STATEWAVE_URL`` and
``STATEWAVE_API_KEY`` and no database settings: its data directory must stay empty, so
nothing was read from a database of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import REPO_ROOT
from devtools.server import RunningServer, clean_env
from statewave_server.db.engine import Database
from statewave_server.db.models import Job, WebhookEvent
from statewave_server.db.outbox import record_event
from tests.cli.conftest import ANSI, API_KEY, coloured, in_terminal
from tests.fixtures.factories import database_for, make_job, make_orphan

pytestmark = pytest.mark.slow

SUBJECT = "cli-remote-alice"
STATEWAVE = Path(sys.executable).parent / "statewave"


@dataclass
class Seeded:
    server: RunningServer
    db: Database
    pending: str
    dead: str
    orphan: str
    event: str
    memory: str


@pytest.fixture(scope="module")
async def seeded(server: RunningServer, database_url: str) -> AsyncIterator[Seeded]:
    """Jobs (pending, dead, orphaned, two sharing a prefix), a dead letter, a compiled subject."""
    engine = create_async_engine(database_url)
    db = database_for(engine)
    async with db.primary() as session, session.begin():
        pending = await make_job(session, subject_id=SUBJECT)
        dead = await make_job(session, status="dead", kind="compile", error="boom")
        orphan = await make_orphan(session)
        for tail in ("0" * 28, "1" * 28):
            await make_job(session, id=f"cafe{tail}", status="completed")
        await record_event(session, "", "memories.compiled", {"subject_id": SUBJECT})
        event = await session.scalar(
            update(WebhookEvent)
            .values(status="dead_letter", last_error="HTTP 500")
            .returning(WebhookEvent.id)
        )
    headers = {"X-API-Key": API_KEY}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
        body = {
            "subject_id": SUBJECT,
            "source": "user",
            "type": "message",
            "payload": {"messages": [{"role": "user", "content": "I work at Globex as CTO."}]},
        }
        assert (await client.post("/v1/episodes", json=body)).status_code in (200, 201)
        compiled = await client.post("/v1/memories/compile", json={"subject_id": SUBJECT})
        assert compiled.status_code == 200, compiled.text
        found = await client.get("/v1/memories/search", params={"subject_id": SUBJECT})
        memory = found.json()["memories"][0]["id"]
    yield Seeded(server, db, pending.id, dead.id, orphan.id, str(event), memory)
    await engine.dispose()


def _env(data_dir: Path, url: str, **extra: str) -> dict[str, str]:
    """Only the server's URL and key (no database settings), an empty data directory."""
    base = {"STATEWAVE_URL": url, "STATEWAVE_API_KEY": API_KEY, "STATEWAVE_DATA_DIR": str(data_dir)}
    return clean_env(**(base | extra))


def statewave(
    seeded: Seeded, tmp_path: Path, *args: str, url: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(STATEWAVE), *args],
        cwd=REPO_ROOT,
        env=_env(tmp_path / "data", url or seeded.server.base_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert not (tmp_path / "data").exists(), "the CLI opened a database of its own"
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


async def _status(db: Database, job_id: str) -> str:
    async with db.primary() as session:
        return str((await session.get(Job, job_id)).status)  # type: ignore[union-attr]


async def test_jobs_list_filters_show_retry_rescue(seeded: Seeded, tmp_path: Path) -> None:
    listed = as_json(statewave(seeded, tmp_path, "jobs", "list", "--json"))
    assert {seeded.pending, seeded.dead, seeded.orphan} <= {
        row["job_id"]
        for row in listed["jobs"]  # type: ignore[attr-defined]
    }
    dead = as_json(statewave(seeded, tmp_path, "jobs", "list", "--status", "dead", "--json"))
    assert [row["job_id"] for row in dead["jobs"]] == [seeded.dead]  # type: ignore[attr-defined]
    # The API calls an exhausted job "failed" (GET /v1/jobs/{id}); the CLI takes both names.
    failed = statewave(seeded, tmp_path, "jobs", "list", "--status", "failed", "--json")
    assert as_json(failed) == dead
    mine = as_json(statewave(seeded, tmp_path, "jobs", "list", "--subject", SUBJECT, "--json"))
    assert [r["job_id"] for r in mine["jobs"]] == [seeded.pending]  # type: ignore[attr-defined]
    kind = as_json(statewave(seeded, tmp_path, "jobs", "list", "--kind", "compile", "--json"))
    assert {r["kind"] for r in kind["jobs"]} == {"compile"}  # type: ignore[attr-defined]

    shown = as_json(statewave(seeded, tmp_path, "jobs", "show", seeded.dead[:8], "--json"))
    assert (shown["job_id"], shown["error"]) == (seeded.dead, "boom")
    human = statewave(seeded, tmp_path, "jobs", "show", seeded.dead[:8])
    assert human.returncode == 0 and "boom" in human.stdout and "payload" in human.stdout

    retried = as_json(
        statewave(seeded, tmp_path, "jobs", "retry", "--job-id", seeded.dead[:8], "--json")
    )
    assert retried == {"retried": [seeded.dead], "not_retried": []}
    assert await _status(seeded.db, seeded.dead) == "pending"
    again = statewave(seeded, tmp_path, "jobs", "retry", "--job-id", seeded.dead)
    assert again.returncode == 1 and "not dead or unknown" in again.stderr

    rescued = as_json(statewave(seeded, tmp_path, "jobs", "rescue", "--json"))
    assert rescued["requeued"] == [seeded.orphan]
    assert await _status(seeded.db, seeded.orphan) == "pending"


def test_short_ids_resolve_or_fail_clearly(seeded: Seeded, tmp_path: Path) -> None:
    ambiguous = statewave(seeded, tmp_path, "jobs", "show", "cafe")
    assert ambiguous.returncode == 1 and "more than one job" in ambiguous.stderr
    unique = as_json(statewave(seeded, tmp_path, "jobs", "show", "cafe1", "--json"))
    assert unique["job_id"] == "cafe" + "1" * 28
    unknown = statewave(seeded, tmp_path, "jobs", "show", "0ddba11")
    assert unknown.returncode == 1 and "no job id starts with '0ddba11'" in unknown.stderr
    missing = statewave(seeded, tmp_path, "jobs", "show", uuid.uuid4().hex)
    assert missing.returncode == 1 and "Job not found (HTTP 404)" in missing.stderr
    not_hex = statewave(seeded, tmp_path, "webhooks", "show", "zzz")
    assert not_hex.returncode == 2 and "not a webhook event id" in not_hex.stderr


def test_webhooks_list_show_redrive(seeded: Seeded, tmp_path: Path) -> None:
    listed = as_json(
        statewave(seeded, tmp_path, "webhooks", "list", "--status", "dead_letter", "--json")
    )
    assert [row["id"] for row in listed["events"]] == [seeded.event]  # type: ignore[attr-defined]
    other = as_json(statewave(seeded, tmp_path, "webhooks", "list", "--event", "x.y", "--json"))
    assert other["events"] == []
    shown = as_json(statewave(seeded, tmp_path, "webhooks", "show", seeded.event[:8], "--json"))
    assert shown["payload"]["data"] == {"subject_id": SUBJECT}  # type: ignore[index]
    done = as_json(
        statewave(seeded, tmp_path, "webhooks", "redrive", "--event-id", seeded.event[:8], "--json")
    )
    assert done == {"redriven": 1, "event_ids": [seeded.event], "not_redriven": []}
    again = statewave(seeded, tmp_path, "webhooks", "redrive", "--event-id", seeded.event)
    assert again.returncode == 1 and "not dead-lettered or unknown" in again.stderr


def test_subjects_stats_memories_export_import(seeded: Seeded, tmp_path: Path) -> None:
    subjects = as_json(statewave(seeded, tmp_path, "subjects", "--search", SUBJECT, "--json"))
    assert [row["subject_id"] for row in subjects["subjects"]] == [SUBJECT]  # type: ignore[attr-defined]
    found = as_json(statewave(seeded, tmp_path, "search", SUBJECT, "Globex", "--json"))
    assert seeded.memory in {m["id"] for m in found["memories"]}  # type: ignore[attr-defined]
    task = "Where does the customer work?"
    bundle = as_json(statewave(seeded, tmp_path, "context", SUBJECT, task, "--json"))
    assert "Globex" in bundle["assembled_context"]  # type: ignore[operator]
    assert bundle["token_estimate"] <= bundle["max_tokens"]  # type: ignore[operator]
    stats = as_json(statewave(seeded, tmp_path, "stats", "--json"))
    assert stats["jobs"]["total"] >= 5 and stats["webhooks"]["total"] >= 1  # type: ignore[index]

    backup = tmp_path / "backup.json"
    with backup.open("w") as out:
        exported = subprocess.run(
            [str(STATEWAVE), "export", SUBJECT],
            env=_env(tmp_path / "data", seeded.server.base_url),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert exported.returncode == 0, exported.stderr
    copy = f"{SUBJECT}-copy"
    imported = as_json(
        statewave(
            seeded,
            tmp_path,
            "import",
            str(backup),
            "--target-subject",
            copy,
            "--remap-ids",
            "--json",
        )
    )
    assert imported["subject_id"] == copy and imported["memories_imported"] >= 1

    retired = as_json(
        statewave(
            seeded, tmp_path, "memories", "retire", seeded.memory[:8], "--reason", "t", "--json"
        )
    )
    assert retired["memory"]["id"] == seeded.memory  # type: ignore[index]
    assert retired["memory"]["status"] == "deleted"  # type: ignore[index]
    assert retired["memory"]["metadata"]["retired_by"].startswith("cli")  # type: ignore[index]
    again = statewave(seeded, tmp_path, "memories", "retire", seeded.memory, "--reason", "x")
    assert again.returncode == 1 and "(HTTP 409)" in again.stderr


def test_refused_key_and_unreachable_host(seeded: Seeded, tmp_path: Path) -> None:
    wrong = statewave(seeded, tmp_path, "jobs", "list", STATEWAVE_API_KEY="wrong-key")
    assert wrong.returncode == 1 and "rejected the API key (HTTP 403)" in wrong.stderr
    assert wrong.stdout == ""
    none = statewave(seeded, tmp_path, "jobs", "list", STATEWAVE_API_KEY="")
    assert none.returncode == 1 and "(HTTP 401): pass --api-key" in none.stderr
    down = statewave(seeded, tmp_path, "stats", url="http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach http://127.0.0.1:9" in down.stderr
    flag = statewave(
        seeded, tmp_path, "--url", seeded.server.base_url, "--api-key", API_KEY, "stats", "--json"
    )
    assert json.loads(flag.stdout)["jobs"]["total"] >= 5


def _in_terminal(seeded: Seeded, tmp_path: Path, *args: str, **env: str) -> str:
    """Run under a pseudo-terminal (as a person would), 100 columns wide; its output."""
    base = _env(tmp_path / "data", seeded.server.base_url, COLUMNS="100", TERM="xterm", **env)
    code, shown = in_terminal([str(STATEWAVE), *args], base)
    assert code == 0, shown
    return shown


def test_tables_fit_100_columns_coloured_only_on_a_terminal(seeded: Seeded, tmp_path: Path) -> None:
    for command in (["jobs", "list"], ["webhooks", "list"], ["subjects"], ["stats"]):
        shown = _in_terminal(seeded, tmp_path, *command)
        assert coloured(shown) or command == ["subjects"], f"{command}: no colour"
        plain = ANSI.sub("", shown)
        assert max(len(line) for line in plain.splitlines()) <= 100, plain
    jobs = ANSI.sub("", _in_terminal(seeded, tmp_path, "jobs", "list"))
    assert seeded.pending[:8] in jobs and seeded.pending not in jobs and " ago" in jobs

    muted = _in_terminal(seeded, tmp_path, "jobs", "list", NO_COLOR="1")
    assert not coloured(muted) and "dead" in muted
    piped = statewave(seeded, tmp_path, "jobs", "list", COLUMNS="100")
    assert piped.returncode == 0 and not ANSI.search(piped.stdout)  # no escapes at all
    assert seeded.pending[:8] in piped.stdout
