"""Read-your-writes across API processes: a search on one process, sent the moment
another process acknowledged an episode and its synchronous compile, finds the new
memory every time (no waiting for the change notification; audit defect 2)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.reliability.freshness import search_finds, trial_word, write_and_compile
from tests.reliability.harness import ApiProcess, subprocess_env

TRIALS = 1_000
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
