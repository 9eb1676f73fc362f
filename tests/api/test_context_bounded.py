"""A context call is bounded: megabyte payloads neither bloat the reply nor stall the server.

Real uvicorn, real PostgreSQL. 30 episodes of ~3 MB each (the red-team reproducer): the
reply stays under 1 MB and a concurrent ``/healthz`` keeps answering quickly. The
latency bound is a generous behaviour check, not a benchmark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.postgres import PgServer
from devtools.server import RunningServer, start_on_free_port, uvicorn_command

EPISODES = 30
PAYLOAD_CHARS = 3_000_000


@pytest.fixture(scope="module")
def server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    db_url = pg.create_database("ctxbound", template=migrated_template)
    log_path: Path = tmp_path_factory.mktemp("ctx-bound") / "server.log"
    with start_on_free_port(
        uvicorn_command,
        log_path,
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
    ) as running:
        yield running


def _big_text(index: int) -> str:
    sentence = f"Episode {index} talks about the export pipeline and invoice number {index}. "
    return (sentence * (PAYLOAD_CHARS // len(sentence) + 1))[:PAYLOAD_CHARS]


@pytest.mark.slow
def test_megabyte_payloads_give_a_small_reply_and_do_not_stall_the_server(
    server: RunningServer,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        for index in range(EPISODES):
            episode = {
                "subject_id": "huge",
                "source": "user",
                "type": "message",
                "session_id": "s1",
                "payload": {"messages": [{"role": "user", "content": _big_text(index)}]},
            }
            assert client.post("/v1/episodes", json=episode).status_code == 201
        pauses: list[float] = []

        def ask(*tasks: str) -> list[httpx.Response]:
            """Context calls while a second client polls /healthz (its times in ``pauses``)."""
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(base_url=server.base_url, timeout=30) as health:
                    while not done.is_set():
                        started = time.perf_counter()
                        assert health.get("/healthz").status_code == 200
                        pauses.append(time.perf_counter() - started)
                        time.sleep(0.01)

            prober = threading.Thread(target=probe)
            prober.start()
            body = {"subject_id": "huge", "max_tokens": 2000}
            try:
                return [client.post("/v1/context", json={**body, "task": t}) for t in tasks]
            finally:
                done.set()
                prober.join()

        raw = ask("anything new?", "What about the export pipeline?")  # newest episodes
        compiled = client.post("/v1/memories/compile", json={"subject_id": "huge"})
        assert compiled.status_code == 200, compiled.text
        found = ask("What about the export pipeline?", "invoice 7", "anything new?")
        replies = raw + found

    for reply in replies:
        assert reply.status_code == 200, reply.text[:300]
        assert len(reply.content) < 1_000_000
        body = reply.json()
        assert body["token_estimate"] <= 2000
        for episode in body["episodes"]:
            assert episode["payload"]["truncated"] is True
            assert len(episode["payload"]["text"]) <= 4000
    # Uncompiled, the newest episodes are shown; compiled, the turns the search finds: both
    # come back as episodes, with bounded payloads.
    assert all(reply.json()["episodes"] for reply in [*raw, *found[:2]])
    assert len(pauses) >= 5
    pauses.sort()
    p95 = pauses[min(len(pauses) - 1, int(len(pauses) * 0.95))]
    assert p95 < 0.1, f"/healthz p95 {p95 * 1000:.0f} ms while context ran"
