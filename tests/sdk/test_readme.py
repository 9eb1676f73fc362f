"""The README's copy-paste examples, executed: the SDK snippet and the CLI commands."""

from __future__ import annotations

import shlex
import subprocess
import sys

from devtools.postgres import run_cli
from devtools.server import RunningServer, clean_env
from tests.fixtures.readme import readme_blocks
from tests.sdk.conftest import API_KEY


def test_readme_sdk_example_runs_against_a_live_server(sdk_server: RunningServer) -> None:
    [code] = readme_blocks("sdk")
    env = clean_env(STATEWAVE_URL=sdk_server.base_url, STATEWAVE_API_KEY=API_KEY)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "I'm Ana Ruiz" in done.stdout
    assert "## Task" in done.stdout


def test_readme_cli_examples_succeed(head_db_url: str) -> None:
    [commands] = readme_blocks("cli")
    for line in commands.strip().splitlines():
        program, *args = shlex.split(line)
        assert program == "statewave"
        done = run_cli(["statewave_server", *args], head_db_url)
        assert done.returncode == 0, f"{line}\\n{done.stdout}\\n{done.stderr}"
