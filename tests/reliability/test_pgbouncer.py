"""Statewave behind PgBouncer in transaction pooling mode: two API processes (with their
in-process workers) share three server connections. Writes, cross-process reads and
async compiles work, and the retrieval indexes are still reused because the LISTEN
connection goes to PostgreSQL directly (``STATEWAVE_DIRECT_DATABASE_URL``)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
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
from devtools.pgbouncer import Bouncer, pgbouncer
from devtools.postgres import PgServer
from statewave_server.db.memory_change_listener import APPLICATION_NAME

SERVER_CONNECTIONS = 3


def _start(env: dict[str, str], tmp_path: Path, label: str) -> list[ApiProcess]:
    apis = [ApiProcess(env, tmp_path / f"{label}-{i}.log") for i in range(2)]
    for api in apis:
        api.start()
    for api in apis:
        api.wait_healthy()
    return apis


def _pooled_env(bouncer: Bouncer, database: str, **more: str) -> dict[str, str]:
    return subprocess_env(
        bouncer.url(database),
        STATEWAVE_DATABASE_POOLED="true",
        STATEWAVE_RUN_WORKER_IN_PROCESS="true",
        STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.2",
        STATEWAVE_DB_POOL_SIZE="10",
        **more,
    )


def _insert_unannounced(pg: PgServer, database: str, subject: str, word: str) -> None:
    """A memory written with psql: no notification, so only a fresh index holds it."""
    pg.psql_in(
        database,
        "INSERT INTO memories (id, subject_id, kind, content) VALUES "
        f"('{uuid.uuid4()}', '{subject}', 'profile_fact', 'Psql wrote {word}')",
    )


def _async_compile(client: httpx.Client, submit_to: str, poll_on: str, subject: str) -> None:
    body = {"subject_id": subject, "async": True}
    submitted = client.post(f"{submit_to}/v1/memories/compile", json=body)
    assert submitted.status_code == 202, submitted.text
    wait_for_job(client, poll_on, submitted.json()["job_id"])


def _burst(apis: list[ApiProcess], subject: str, word: str) -> list[int]:
    def one(n: int) -> int:
        base = apis[n % len(apis)].base_url
        with httpx.Client(timeout=60) as client:
            if n % 2:
                body = {"subject_id": subject, "task": f"what is {word}", "max_tokens": 300}
                return client.post(f"{base}/v1/context", json=body).status_code
            params = {"subject_id": subject, "q": word}
            return client.get(f"{base}/v1/memories/search", params=params).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        return list(pool.map(one, range(96)))


def _backends(pg: PgServer, database: str, application: str) -> int:
    count = pg.psql_in(
        database,
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = current_database() AND application_name = '{application}'",
    )
    return int(count)


@pytest.mark.slow
def test_statewave_runs_behind_pgbouncer_in_transaction_mode(
    pg: PgServer, db_url: str, tmp_path: Path
) -> None:
    info = pg.server.get_postmaster_info()
    database = pg.database_name(db_url)
    with pgbouncer(Path(info.socket_dir), info.port, pool_size=SERVER_CONNECTIONS) as bouncer:
        env = _pooled_env(bouncer, database, STATEWAVE_DIRECT_DATABASE_URL=db_url)
        apis = _start(env, tmp_path, "direct")
        try:
            with httpx.Client(timeout=60) as client:
                for trial in range(40):  # write on one process, read on the other at once
                    writer, reader = apis[trial % 2], apis[1 - trial % 2]
                    word = trial_word(trial)
                    write_and_compile(client, writer.base_url, "pooled", word)
                    assert search_finds(client, reader.base_url, "pooled", word), trial

                store_episode(client, apis[0].base_url, "queued", trial_word(500))
                _async_compile(client, apis[0].base_url, apis[1].base_url, "queued")
                assert search_finds(client, apis[1].base_url, "queued", trial_word(500))

                statuses = _burst(apis, "pooled", trial_word(3))
                assert statuses == [200] * len(statuses)
                # Many client connections, at most SERVER_CONNECTIONS server ones: pooled.
                assert 1 <= _backends(pg, database, "statewave") <= SERVER_CONNECTIONS
                assert _backends(pg, database, APPLICATION_NAME) == 2  # one LISTEN each

                # Reused indexes: a row no Statewave write announced stays unseen.
                _insert_unannounced(pg, database, "pooled", trial_word(900))
                for api in apis:
                    assert not search_finds(client, api.base_url, "pooled", trial_word(900))
        finally:
            for api in apis:
                api.stop()
        assert "prepared statement" not in "".join(api.log_path.read_text() for api in apis)

        # Without a direct URL there is nowhere to LISTEN: nothing is reused, all still works.
        apis = _start(_pooled_env(bouncer, database), tmp_path, "pooled-only")
        try:
            with httpx.Client(timeout=60) as client:
                search_finds(client, apis[0].base_url, "pooled", trial_word(1))
                assert search_finds(client, apis[0].base_url, "pooled", trial_word(900))
                assert _backends(pg, database, APPLICATION_NAME) == 0
        finally:
            for api in apis:
                api.stop()
