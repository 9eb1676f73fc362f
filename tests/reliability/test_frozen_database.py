"""A frozen database (every PostgreSQL process stopped with SIGSTOP: connections stay open,
nothing answers, and the server cannot time out its own statements) costs a request the
client-side command timeout and answers 503, instead of hanging until it thaws."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from devtools.postgres import PgServer, alembic
from devtools.server import api_env, free_port, running_server, uvicorn_command

pytestmark = pytest.mark.slow


@contextmanager
def frozen(pg: PgServer) -> Iterator[None]:
    """SIGSTOP the postmaster and all its backends; SIGCONT them afterwards."""
    postmaster = psutil.Process(pg.server.get_pid())
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)


def test_frozen_database_answers_503_not_a_hang(own_pg: PgServer, tmp_path: Path) -> None:
    url = own_pg.create_database("frozen")
    alembic("upgrade", "head", database_url=url)
    port = free_port()
    env = api_env(
        url,
        STATEWAVE_DB_COMMAND_TIMEOUT_SECONDS="2",
        STATEWAVE_DB_POOL_TIMEOUT_SECONDS="2",
        STATEWAVE_DB_CONNECT_TIMEOUT_SECONDS="2",
    )
    episode = {"subject_id": "s", "source": "user", "type": "message", "payload": {"text": "x"}}
    with running_server(uvicorn_command(port), env, tmp_path / "api.log", port) as server:
        assert httpx.get(f"{server.base_url}/v1/subjects").status_code == 200
        with frozen(own_pg):
            # The httpx timeout is only a bound: without a client-side timeout these would
            # wait for as long as the database stays frozen.
            listed = httpx.get(f"{server.base_url}/v1/subjects", timeout=60)
            written = httpx.post(f"{server.base_url}/v1/episodes", json=episode, timeout=60)
        thawed = httpx.get(f"{server.base_url}/v1/subjects", timeout=60)
    for response in (listed, written):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
    assert thawed.status_code == 200
