"""``statewave bench`` against a server that wants an API key: a missing key and a wrong key
are told apart, each in one line on stderr with exit 1; the server comes from ``--url`` or,
like every remote command, from ``STATEWAVE_URL``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import RunningServer, clean_env

pytestmark = pytest.mark.slow


def _bench(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statewave_server", "bench", *args, "--json"],
        cwd=REPO_ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_key_says_how_to_pass_one(server: RunningServer) -> None:
    done = _bench(STATEWAVE_URL=server.base_url)  # the server --url would name
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip().splitlines() == [
        f"error: {server.base_url} requires an API key (HTTP 401): "
        "pass --api-key or set STATEWAVE_API_KEY"
    ]


def test_a_wrong_key_is_called_rejected(server: RunningServer) -> None:
    done = _bench("--url", server.base_url, STATEWAVE_API_KEY="not-the-key")
    assert done.returncode == 1
    assert "rejected the API key" in done.stderr
