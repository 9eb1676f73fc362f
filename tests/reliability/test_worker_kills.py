"""Three worker processes, one SIGKILLed mid-batch again and again (and restarted): every job
completes exactly once — one memory per episode, every episode compiled once — and a
poison job (one no worker can run) ends ``dead`` after its attempts, with its error.

Complements ``tests/worker/test_compile_crash.py`` (one kill, one job) and
``tests/worker/test_worker.py`` (in-process workers, no kills).
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from devtools.harness import ManagedProcess, subprocess_env, worker_command
from devtools.openai_server import (
    OpenAITestServer,
    RecordedRequest,
    Reply,
    running_openai_server,
)
from statewave_server.db.engine import Database
from tests.reliability.support import in_process_api

TENANT = "kills"
SUBJECTS = [f"k{i}" for i in range(8)]
POISON = "poison"
EPISODES_PER_SUBJECT = 4
KILLS = 3
_EPISODE = re.compile(r"--- Episode (\d+) ---\n(.*?)(?=\n\n--- Episode \d+ ---\n|\Z)", re.S)


def _responder(request: RecordedRequest) -> Reply:
    """One memory per episode after a delay long enough to be killed in; poison fails."""
    if "POISON" in request.user_content:
        return Reply.error(500, "poisoned input")
    items = [
        {
            "kind": "episode_summary",
            "content": f"Remembered: {body.strip()}",
            "summary": f"Episode {index}",
            "confidence": 0.9,
            "episode_index": int(index),
        }
        for index, body in _EPISODE.findall(request.user_content)
    ]
    return Reply.chat_json({"memories": items}, delay=1.0)


@pytest.fixture
def llm() -> Iterator[OpenAITestServer]:
    with running_openai_server() as server:
        server.responder = _responder
        yield server


@pytest.fixture
async def api(head_db_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with in_process_api(head_db_url, headers={"X-Tenant-ID": TENANT}) as pair:
        yield pair


def _worker_env(url: str, llm: OpenAITestServer) -> dict[str, str]:
    return subprocess_env(
        url,
        STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.1",
        # Batches of two subjects: several workers hold work at once, so each kill hits a
        # different batch (a kill requeues every unfinished job of the batch it lands in).
        STATEWAVE_WORKER_BATCH_SUBJECTS="2",
        STATEWAVE_JOB_HEARTBEAT_SECONDS="0.2",
        STATEWAVE_JOB_ORPHAN_AFTER_SECONDS="1.0",
        STATEWAVE_JOB_BACKOFF_BASE_SECONDS="0.2",
        STATEWAVE_JOB_BACKOFF_MAX_SECONDS="0.5",
        STATEWAVE_COMPILER_TYPE="llm",
        STATEWAVE_LITELLM_MODEL="gpt-test",
        STATEWAVE_LITELLM_API_KEY="sk-test",
        STATEWAVE_LITELLM_API_BASE=llm.base_url,
        STATEWAVE_LITELLM_MAX_RETRIES="0",
        STATEWAVE_LITELLM_TIMEOUT_SECONDS="60",
    )


async def _rows(database: Database, sql: str) -> list[tuple[object, ...]]:
    async with database.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), {"t": TENANT})).all()]


async def _worker_in_first_attempts(
    database: Database, workers: list[ManagedProcess]
) -> tuple[ManagedProcess, str] | None:
    """A live worker whose running jobs are all on their first attempt (so a kill never
    pushes a job past its attempts), with its worker id."""
    running = await _rows(
        database,
        "SELECT claimed_by, min(attempts), max(attempts) FROM compilation_jobs"
        " WHERE tenant_id = :t AND status = 'running' AND subject_id <> 'p'"
        " GROUP BY claimed_by",
    )
    for claimed_by, fewest, most in running:
        for worker in workers:
            pid = worker.process.pid if worker.process is not None else None
            if worker.alive() and f":{pid}:" in str(claimed_by) and fewest == most == 1:
                return worker, str(claimed_by)
    return None


@pytest.mark.slow
async def test_repeatedly_killed_workers_complete_every_job_once(
    api: tuple[FastAPI, httpx.AsyncClient], llm: OpenAITestServer, head_db_url: str, tmp_path: Path
) -> None:
    app, client = api
    database: Database = app.state.database
    job_ids = {}
    for subject in [*SUBJECTS, POISON]:
        word = "POISON" if subject == POISON else "fact"
        episodes = [
            {"subject_id": subject, "source": "c", "type": "m", "payload": {"text": f"{word} {i}"}}
            for i in range(EPISODES_PER_SUBJECT)
        ]
        assert (await client.post("/v1/episodes/batch", json={"episodes": episodes})).is_success
        queued = await client.post(
            "/v1/memories/compile", json={"subject_id": subject, "async": True}
        )
        assert queued.status_code == 202
        job_ids[subject] = queued.json()["job_id"]

    # A poison job no worker can run: it must end dead after its attempts, with its error.
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO compilation_jobs (id, tenant_id, subject_id, kind, max_attempts)"
                " VALUES ('poison-job', :t, 'p', 'poison-kind', 3)"
            ),
            {"t": TENANT},
        )

    env = _worker_env(head_db_url, llm)
    workers = [
        ManagedProcess(worker_command(), env, tmp_path / f"worker-{i}.log") for i in range(3)
    ]
    for worker in workers:
        worker.start()
    killed_jobs: list[str] = []
    try:
        deadline = time.monotonic() + 90
        kills = 0
        while kills < KILLS and time.monotonic() < deadline:
            victim = await _worker_in_first_attempts(database, workers)
            if victim is None:
                await asyncio.sleep(0.05)
                continue
            worker, worker_id = victim
            await asyncio.sleep(0.3)  # well inside the 1 s LLM call
            worker.kill9()
            assert worker.process is not None and worker.process.returncode == -signal.SIGKILL
            kills += 1
            # What the dead worker left unfinished: each of these runs again, once.
            killed_jobs += [
                str(r[0])
                for r in await _rows(
                    database,
                    "SELECT id FROM compilation_jobs WHERE tenant_id = :t"
                    f" AND status = 'running' AND claimed_by = '{worker_id}'",
                )
            ]
            worker.start()  # a fresh worker sweeps orphans when it starts
        assert kills == KILLS and killed_jobs, "could not catch enough jobs mid-flight"

        while time.monotonic() < deadline:
            open_jobs = await _rows(
                database,
                "SELECT id FROM compilation_jobs WHERE tenant_id = :t"
                " AND status NOT IN ('completed', 'dead')",
            )
            if not open_jobs:
                break
            await asyncio.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()

    jobs = {
        str(r[0]): r[1:]
        for r in await _rows(
            database,
            "SELECT id, subject_id, status, attempts, error FROM compilation_jobs"
            " WHERE tenant_id = :t",
        )
    }
    for subject in SUBJECTS:
        _, status, attempts, error = jobs[job_ids[subject]]
        assert status == "completed", (subject, status, error)
        expected_attempts = 2 if job_ids[subject] in killed_jobs else 1
        assert attempts == expected_attempts, (subject, attempts)
    _, status, attempts, error = jobs["poison-job"]
    assert (status, attempts) == ("dead", 3)
    assert "no handler for job kind 'poison-kind'" in str(error), error
    # The subject whose LLM calls always fail: its job finishes (a failed batch is skipped
    # by design) but nothing is stored and its episodes stay uncompiled for a later run.
    assert jobs[job_ids[POISON]][1] == "completed"

    memories = await _rows(
        database, "SELECT subject_id, content FROM memories WHERE tenant_id = :t"
    )
    assert not [m for m in memories if m[0] == POISON]
    per_subject = Counter(str(m[0]) for m in memories)
    assert per_subject == dict.fromkeys(SUBJECTS, EPISODES_PER_SUBJECT)
    assert max(Counter(memories).values()) == 1  # no duplicate memory anywhere
    uncompiled = await _rows(
        database,
        "SELECT subject_id FROM episodes WHERE tenant_id = :t AND last_compiled_at IS NULL",
    )
    assert {str(r[0]) for r in uncompiled} == {POISON}
