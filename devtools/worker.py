"""Run ``python -m statewave_server worker`` as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.postgres import REPO_ROOT


@contextmanager
def worker_subprocess(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m statewave_server worker`` from the repo root with exactly ``env``, its
    output appended to ``log``; killed if still alive at exit."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "statewave_server", "worker"],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
