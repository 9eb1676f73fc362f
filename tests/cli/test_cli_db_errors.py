"""A database the CLI cannot use is one line naming the database, the setting and a next
step: no SQLAlchemy "Background on this error" link, no password, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from devtools.postgres import REPO_ROOT, PgServer
from devtools.server import clean_env, free_port

pytestmark = pytest.mark.slow


def _jobs_list(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statewave_server", "jobs", "list"],
        cwd=REPO_ROOT,
        env=clean_env(STATEWAVE_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "sqlalche.me" not in lines[0] and "Traceback" not in lines[0]
    return lines[0]


def test_nothing_listening_names_the_setting_and_hides_the_password() -> None:
    port = free_port()
    line = _one_line(_jobs_list(f"postgresql://ops:s3cret-pw@127.0.0.1:{port}/statewave"))
    assert line.startswith(f"Database error: cannot use the database at 127.0.0.1:{port}/statewave")
    assert "Check STATEWAVE_DATABASE_URL" in line and "--url" in line
    assert "s3cret-pw" not in line


def test_an_unknown_role_says_so_without_sqlalchemy_noise(database_url: str) -> None:
    wrong = make_url(database_url).set(username="no_such_role", password="x")
    line = _one_line(_jobs_list(wrong.render_as_string(hide_password=False)))
    assert "no_such_role" in line and "Check STATEWAVE_DATABASE_URL" in line
    assert "<class" not in line


def test_a_database_without_the_schema_says_to_migrate(pg: PgServer) -> None:
    line = _one_line(_jobs_list(pg.create_database("cli_empty")))
    assert "has no Statewave tables" in line and "statewave migrate upgrade" in line
