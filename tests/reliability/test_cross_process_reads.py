"""Read-your-writes across API processes: a search on one process, sent the moment
another process acknowledged an episode and its synchronous compile, finds the new
memory every time (no waiting for the change notification; audit defect 2)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devtools.freshness import (
    search_finds,
    store_episode,
    trial_word,
    wait_for_job,
    write_and_compile,
)
from devtools.harness import ApiProcess, subprocess_env

TRIALS = 1_000
ASYNC_TRIALS = 50
SUBJECT = "ryw"


@pytest.mark.slow
def test_every_acknowledged_write_is_read_by_the_other_process(db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(db_url)
    apis = [ApiProcess(env, tmp_path / f"api-{i}.log") for i in range(2)]
    for api in apis:
        api.start()
    try:
        for api in apis:
            api.wait_healthy()
        stale = []
        with httpx.Client(timeout=60) as client:
            write_and_compile(client, apis[0].base_url, SUBJECT, trial_word(TRIALS))
            for api in apis:  # both hold a warm index of the subject from here on
                assert search_finds(client, api.base_url, SUBJECT, trial_word(TRIALS))
            for trial in range(TRIALS):
                writer, reader = apis[trial % 2], apis[1 - trial % 2]
                word = trial_word(trial)
                write_and_compile(client, writer.base_url, SUBJECT, word)
                if not search_finds(client, reader.base_url, SUBJECT, word):
                    stale.append(trial)
    finally:
        for api in apis:
            api.stop()
    assert stale == [], f"{len(stale)} of {TRIALS} reads missed an acknowledged write"


@pytest.mark.slow
def test_a_polled_async_compile_is_read_by_the_other_process(db_url: str, tmp_path: Path) -> None:
    """The worker runs in process A only; the client polls A until the job is completed
    and at once searches B for the compiled memory. (The poll's own round trips leave
    the notification time to arrive, so this rarely caught the old gap; the synchronous
    test above is the sharp one. It guards the path the audit named.)"""
    worker = ApiProcess(
        subprocess_env(
            db_url,
            STATEWAVE_RUN_WORKER_IN_PROCESS="true",
            STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.1",
        ),
        tmp_path / "api-worker.log",
    )
    reader = ApiProcess(subprocess_env(db_url), tmp_path / "api-reader.log")
    for api in (worker, reader):
        api.start()
    try:
        for api in (worker, reader):
            api.wait_healthy()
        stale = []
        with httpx.Client(timeout=60) as client:
            write_and_compile(client, worker.base_url, "polled", trial_word(TRIALS))
            assert search_finds(client, reader.base_url, "polled", trial_word(TRIALS))
            for trial in range(ASYNC_TRIALS):
                word = trial_word(trial)
                store_episode(client, worker.base_url, "polled", word)
                body = {"subject_id": "polled", "async": True}
                submitted = client.post(f"{worker.base_url}/v1/memories/compile", json=body)
                assert submitted.status_code == 202, submitted.text
                wait_for_job(client, worker.base_url, submitted.json()["job_id"])
                if not search_finds(client, reader.base_url, "polled", word):
                    stale.append(trial)
    finally:
        for api in (worker, reader):
            api.stop()
    assert stale == [], f"{len(stale)} of {ASYNC_TRIALS} reads missed a completed compile"
