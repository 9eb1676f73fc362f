"""Read-your-writes across API processes: a search on one process, sent the moment
another process acknowledged an episode and its synchronous compile, finds the new
memory every time (no waiting for the change notification; audit defect 2)."""

from __future__ import annotations

import string
from pathlib import Path

import httpx
import pytest

from tests.reliability.harness import ApiProcess, subprocess_env

TRIALS = 1_000
SUBJECT = "ryw"


def _word(n: int) -> str:
    """A distinct letters-only word per trial (the stemmer leaves ``zq…`` words alone)."""
    letters = []
    for _ in range(4):
        n, digit = divmod(n, 26)
        letters.append(string.ascii_lowercase[digit])
    return "zq" + "".join(letters) + "zq"


def _write(client: httpx.Client, base_url: str, word: str) -> None:
    episode = {
        "subject_id": SUBJECT,
        "source": "chat",
        "type": "message",
        "payload": {"messages": [{"role": "user", "content": f"My locker code word is {word}"}]},
    }
    stored = client.post(f"{base_url}/v1/episodes", json=episode)
    assert stored.status_code == 201, stored.text
    compiled = client.post(f"{base_url}/v1/memories/compile", json={"subject_id": SUBJECT})
    assert compiled.status_code == 200, compiled.text
    assert any(word in m["content"] for m in compiled.json()["memories"]), compiled.text


def _found(client: httpx.Client, base_url: str, word: str) -> bool:
    response = client.get(
        f"{base_url}/v1/memories/search", params={"subject_id": SUBJECT, "q": word}
    )
    assert response.status_code == 200, response.text
    return any(word in m["content"] for m in response.json()["memories"])


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
            _write(client, apis[0].base_url, _word(TRIALS))
            for api in apis:  # both hold a warm index of the subject from here on
                assert _found(client, api.base_url, _word(TRIALS))
            for trial in range(TRIALS):
                writer, reader = apis[trial % 2], apis[1 - trial % 2]
                word = _word(trial)
                _write(client, writer.base_url, word)
                if not _found(client, reader.base_url, word):
                    stale.append(trial)
    finally:
        for api in apis:
            api.stop()
    assert stale == [], f"{len(stale)} of {TRIALS} reads missed an acknowledged write"
