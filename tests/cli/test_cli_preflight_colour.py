"""``statewave preflight`` colours its checks and verdict at a terminal, and only there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import clean_env
from tests.cli.conftest import coloured, in_terminal

pytestmark = pytest.mark.slow

GO = "✅ Schema is up to date. No migration needed."


def test_colour_at_a_terminal_plain_in_a_pipe_and_with_no_color(database_url: str) -> None:
    command = [sys.executable, "-m", "statewave_server", "preflight"]
    env = clean_env(STATEWAVE_DATABASE_URL=database_url, TERM="xterm-256color")
    code, shown = in_terminal(command, env)
    assert code == 0, shown
    assert coloured(shown)
    verdict = next(line for line in shown.splitlines() if "No migration needed" in line)
    assert "\x1b[1;32m" in verdict  # bold green
    piped = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout
    assert GO in piped.stdout.splitlines()
    code, plain = in_terminal(command, {**env, "NO_COLOR": "1"})
    assert code == 0 and not coloured(plain)
