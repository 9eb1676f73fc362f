"""A database of their own and a real server on it (API key on, no in-process worker) for
each CLI test module that runs ``statewave`` against a database or a ``--url``."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Iterator

import pytest

from devtools.postgres import PgServer
from devtools.server import RunningServer, start_on_free_port, uvicorn_command

API_KEY = "cli-remote-key-0123456789"
ANSI = re.compile(r"\x1b\[([0-9;]*)m")


def coloured(text: str) -> bool:
    """Whether ``text`` sets a foreground colour (NO_COLOR still allows bold or italic)."""
    codes = {int(c) for match in ANSI.findall(text) for c in match.split(";") if c}
    return any(30 <= code <= 38 or 90 <= code <= 97 for code in codes)


@pytest.fixture(scope="module")
def database_url(pg: PgServer, migrated_template: str) -> str:
    return pg.create_database("cli", template=migrated_template)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("cli-server") / "server.log"
    with start_on_free_port(
        uvicorn_command,
        log,
        STATEWAVE_DATABASE_URL=database_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
        STATEWAVE_API_KEY=API_KEY,
    ) as running:
        yield running


def in_terminal(command: list[str], env: dict[str, str], typed: str = "") -> tuple[int, str]:
    """Run ``command`` under a pseudo-terminal (as a person would), with ``typed`` waiting
    as keyboard input; its exit code and everything it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    if typed:
        os.write(leader, typed.encode())  # held by the terminal until the program reads it
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode().replace("\r\n", "\n")
