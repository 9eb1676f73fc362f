"""A worker killed (SIGKILL) in the middle of an LLM compile: the job is recovered by
another worker and completes exactly once — no duplicate memories, every episode compiled
once — because the memories, the episode stamps and the job's completion commit together.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from devtools.openai_server import (
    OpenAITestServer,
    RecordedRequest,
    Reply,
    running_openai_server,
)
from devtools.worker import worker_subprocess
from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.db.models import Episode, Job, Memory
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings
from tests.fixtures.factories import load_job, wait_until

SUBJECT = "crash-subject"
TENANT = "crash-tenant"
EPISODE_TEXTS = [f"Fact number {i}: the customer owns {i + 1} devices." for i in range(6)]
_EPISODE = re.compile(r"--- Episode (\d+) ---\n(.*?)(?=\n\n--- Episode \d+ ---\n|\Z)", re.S)

WORKER_ENV = {
    "STATEWAVE_JOB_POLL_INTERVAL_SECONDS": "0.05",
    "STATEWAVE_JOB_HEARTBEAT_SECONDS": "0.2",
    "STATEWAVE_COMPILER_TYPE": "llm",
    "STATEWAVE_LITELLM_MODEL": "gpt-test",
    "STATEWAVE_LITELLM_API_KEY": "sk-test",
    "STATEWAVE_LITELLM_MAX_RETRIES": "0",
    "STATEWAVE_LITELLM_TIMEOUT_SECONDS": "300",
    "STATEWAVE_EMBEDDING_PROVIDER": "hash",
    "STATEWAVE_LOG_FORMAT": "json",
}


class ScriptedLLM:
    """Answers each chat request with one memory per episode, after ``delay`` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0

    def __call__(self, request: RecordedRequest) -> Reply:
        items = [
            {
                "kind": "episode_summary",
                "content": f"Remembered: {episode_text.strip()}",
                "summary": f"Episode {index}",
                "confidence": 0.9,
                "episode_index": int(index),
            }
            for index, episode_text in _EPISODE.findall(request.user_content)
        ]
        return Reply.chat_json({"memories": items}, delay=self.delay)


@pytest.fixture
def llm() -> Iterator[tuple[OpenAITestServer, ScriptedLLM]]:
    script = ScriptedLLM()
    with running_openai_server() as server:
        server.responder = script
        yield server, script


@pytest.fixture
async def api(db: Database, head_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real API in process (no in-process worker): jobs are left to the subprocesses."""
    settings = Settings(
        _env_file=None,
        database_url=head_db_url,
        run_worker_in_process=False,
        embedding_provider="hash",
    )
    app = create_app(settings, db, build_runtime(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"X-Tenant-ID": TENANT}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers=headers
    ) as client:
        yield client


@contextmanager
def worker_process(url: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m statewave_server worker`` against ``url``; killed if still alive at exit."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    full_env.pop("DATABASE_URL", None)
    full_env.update({"STATEWAVE_DATABASE_URL": url, **WORKER_ENV, **env})
    with worker_subprocess(full_env, log) as proc:
        yield proc


async def _job(db: Database, job_id: str) -> Job:
    return await load_job(db, job_id)


async def _memories(db: Database) -> list[Memory]:
    async with db.primary() as session:
        statement = select(Memory).where(Memory.tenant_id == TENANT, Memory.subject_id == SUBJECT)
        return list((await session.scalars(statement)).all())


async def _episodes(db: Database) -> list[Episode]:
    async with db.primary() as session:
        statement = select(Episode).where(
            Episode.tenant_id == TENANT, Episode.subject_id == SUBJECT
        )
        return list((await session.scalars(statement)).all())


@pytest.mark.slow
async def test_sigkilled_llm_compile_is_recovered_and_completed_exactly_once(
    db: Database,
    api: httpx.AsyncClient,
    llm: tuple[OpenAITestServer, ScriptedLLM],
    head_db_url: str,
    tmp_path: Path,
) -> None:
    server, script = llm
    batch = {
        "episodes": [
            {"subject_id": SUBJECT, "source": "chat", "type": "message", "payload": {"text": t}}
            for t in EPISODE_TEXTS
        ]
    }
    created = await api.post("/v1/episodes/batch", json=batch)
    assert created.status_code == 201, created.text
    queued = await api.post("/v1/memories/compile", json={"subject_id": SUBJECT, "async": True})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    log = tmp_path / "workers.log"
    env = {"STATEWAVE_LITELLM_API_BASE": server.base_url}

    # 1. The first worker claims the job and waits on a slow LLM reply; it is SIGKILLed.
    script.delay = 120.0
    with worker_process(head_db_url, log, **env) as first:

        async def in_flight() -> bool:
            job = await _job(db, job_id)
            return job.status == "running" and len(server.requests) >= 1

        await wait_until(in_flight, within=60)
        held = await _job(db, job_id)
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL

    # The dead worker left the job running with a frozen heartbeat and wrote nothing.
    await asyncio.sleep(0.8)
    stuck = await _job(db, job_id)
    assert (stuck.status, stuck.claimed_by, stuck.attempts) == ("running", held.claimed_by, 1)
    assert await _memories(db) == []
    assert all(e.last_compiled_at is None for e in await _episodes(db))
    sent = server.requests[0].user_content
    assert all(t in sent for t in EPISODE_TEXTS)  # the whole batch was in flight

    # 2. A second worker (fast replies, short orphan timeout) recovers and completes it.
    script.delay = 0.0
    requests_before = len(server.requests)
    with worker_process(
        head_db_url, log, STATEWAVE_JOB_ORPHAN_AFTER_SECONDS="0.5", **env
    ) as second:

        async def completed() -> bool:
            return (await _job(db, job_id)).status in ("completed", "dead")

        await wait_until(completed, within=60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 15) == 0

    done = await _job(db, job_id)
    assert done.status == "completed", (done.error, log.read_text()[-3000:])
    assert done.attempts == 2 and done.claimed_by != held.claimed_by
    assert len(server.requests) == requests_before + 1  # one more LLM call, for the rerun

    memories = await _memories(db)
    contents = Counter(m.content for m in memories)
    assert sorted(contents) == sorted(f"Remembered: {t}" for t in EPISODE_TEXTS)
    assert set(contents.values()) == {1}, f"duplicate memories: {contents}"
    assert done.memories_created == len(memories) == len(EPISODE_TEXTS)
    assert sorted(done.result["memory_ids"]) == sorted(str(m.id) for m in memories)
    assert {m.embedding_model for m in memories} == {"hash-sha512-384"}

    episodes = await _episodes(db)
    assert len(episodes) == len(EPISODE_TEXTS)
    assert all(e.last_compiled_at is not None for e in episodes)
    sources = Counter(i for m in memories for i in m.source_episode_ids)
    assert sources == Counter({e.id: 1 for e in episodes})  # each compiled exactly once

    status = await api.get(f"/v1/memories/compile/{job_id}")
    assert status.status_code == 200, status.text
    body: dict[str, Any] = status.json()
    assert (body["status"], body["memories_created"]) == ("completed", len(EPISODE_TEXTS))
    assert len(body["memories"]) == len(EPISODE_TEXTS)

    async with db.primary() as session:  # nothing else left pending or running
        left = await session.scalar(
            text("SELECT count(*) FROM compilation_jobs WHERE status IN ('pending', 'running')")
        )
    assert left == 0


@pytest.mark.slow
async def test_sigkilled_batch_of_subjects_is_recovered_and_completed_exactly_once(
    db: Database,
    api: httpx.AsyncClient,
    llm: tuple[OpenAITestServer, ScriptedLLM],
    head_db_url: str,
    tmp_path: Path,
) -> None:
    """The worker batch path: three subjects' jobs claimed together, killed while drafting;
    the next worker claims them together again and each completes once."""
    server, script = llm
    subjects = [f"{SUBJECT}-{i}" for i in range(3)]
    batch = {
        "episodes": [
            {"subject_id": s, "source": "chat", "type": "message", "payload": {"text": t}}
            for s in subjects
            for t in EPISODE_TEXTS[:2]
        ]
    }
    assert (await api.post("/v1/episodes/batch", json=batch)).status_code == 201
    job_ids = []
    for subject in subjects:
        body = {"subject_id": subject, "async": True}
        queued = await api.post("/v1/memories/compile", json=body)
        job_ids.append(queued.json()["job_id"])
    log = tmp_path / "workers.log"
    env = {"STATEWAVE_LITELLM_API_BASE": server.base_url}

    async def statuses() -> list[str]:
        return [(await _job(db, job_id)).status for job_id in job_ids]

    script.delay = 120.0
    with worker_process(head_db_url, log, **env) as first:

        async def all_in_flight() -> bool:
            return await statuses() == ["running"] * 3 and len(server.requests) >= 3

        await wait_until(all_in_flight, within=60)
        first.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL

    async with db.primary() as session:
        assert (await session.scalars(select(Memory).where(Memory.tenant_id == TENANT))).all() == []

    script.delay = 0.0
    with worker_process(
        head_db_url, log, STATEWAVE_JOB_ORPHAN_AFTER_SECONDS="0.5", **env
    ) as second:

        async def settled() -> bool:
            return all(s in ("completed", "dead") for s in await statuses())

        await wait_until(settled, within=60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 15) == 0

    done = [await _job(db, job_id) for job_id in job_ids]
    assert [(j.status, j.attempts) for j in done] == [("completed", 2)] * 3, log.read_text()[-3000:]
    async with db.primary() as session:
        memories = (await session.scalars(select(Memory).where(Memory.tenant_id == TENANT))).all()
        episodes = (await session.scalars(select(Episode).where(Episode.tenant_id == TENANT))).all()
    assert len(episodes) == 6 and all(e.last_compiled_at is not None for e in episodes)
    sources = Counter(i for m in memories for i in m.source_episode_ids)
    assert sources == Counter({e.id: 1 for e in episodes})  # each compiled exactly once
    for job in done:
        own = {str(m.id) for m in memories if m.subject_id == job.subject_id}
        assert sorted(job.result["memory_ids"]) == sorted(own) and len(own) == 2
