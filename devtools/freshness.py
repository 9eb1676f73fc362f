"""Write-then-read probes over HTTP: an episode plus a synchronous compile that must
yield a memory holding a given word, and a search for that word."""

from __future__ import annotations

import string
import time

import httpx


def trial_word(n: int) -> str:
    """A distinct letters-only word per ``n`` (the stemmer leaves ``zq…zq`` words alone)."""
    letters = []
    for _ in range(4):
        n, digit = divmod(n, 26)
        letters.append(string.ascii_lowercase[digit])
    return "zq" + "".join(letters) + "zq"


def store_episode(client: httpx.Client, base_url: str, subject: str, word: str) -> None:
    episode = {
        "subject_id": subject,
        "source": "chat",
        "type": "message",
        "payload": {"messages": [{"role": "user", "content": f"My locker code word is {word}"}]},
    }
    stored = client.post(f"{base_url}/v1/episodes", json=episode)
    assert stored.status_code == 201, stored.text


def write_and_compile(client: httpx.Client, base_url: str, subject: str, word: str) -> None:
    """Acknowledged episode + synchronous compile whose new memory holds ``word``."""
    store_episode(client, base_url, subject, word)
    compiled = client.post(f"{base_url}/v1/memories/compile", json={"subject_id": subject})
    assert compiled.status_code == 200, compiled.text
    assert any(word in m["content"] for m in compiled.json()["memories"]), compiled.text


def search_finds(client: httpx.Client, base_url: str, subject: str, word: str) -> bool:
    response = client.get(
        f"{base_url}/v1/memories/search", params={"subject_id": subject, "q": word}
    )
    assert response.status_code == 200, response.text
    return any(word in m["content"] for m in response.json()["memories"])


def wait_for_job(client: httpx.Client, base_url: str, job_id: str, seconds: float = 60) -> None:
    """Poll a compile job until it is ``completed`` (AssertionError on failure or timeout)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"{base_url}/v1/memories/compile/{job_id}").json()
        if status["status"] == "completed":
            return
        assert status["status"] in {"pending", "running"}, status
        time.sleep(0.02)
    raise AssertionError(f"compile job {job_id} did not complete in {seconds} s")
