"""A throwaway embedded PostgreSQL (with pgvector) for the test session.

Each test module gets its own database, cloned from a template migrated once to head.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statewave_server.db.urls import to_async_url

REPO_ROOT = Path(__file__).resolve().parents[1]

_counter = itertools.count()


def bundled_psql(server: Any, database: str, sql: str, *, is_file: bool = False) -> str:
    """Run SQL (or, with ``is_file``, the SQL file at that path: COPY … FROM stdin works)
    in ``database`` of an embedded server with its own psql; the output, trimmed."""
    socket_dir = Path(server.get_postmaster_info().socket_dir)
    return psql_at(Path(server.bin_path), socket_dir, database, sql, is_file=is_file)


def psql_at(
    bin_path: Path, socket_dir: Path, database: str, sql: str, *, is_file: bool = False
) -> str:
    """:func:`bundled_psql` for any server of those binaries listening in ``socket_dir``."""
    env = {**os.environ, "PGHOST": str(socket_dir), "PGUSER": "postgres"}
    psql = bin_path / "psql"
    done = subprocess.run(
        [
            *(str(psql), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database),
            *("-f" if is_file else "-c", sql),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class PgServer:
    """An embedded server plus helpers to create and drop databases on it."""

    server: Any
    pgdata: Path
    created: list[str] = field(default_factory=list)

    def url(self, database: str) -> str:
        return to_async_url(str(self.server.get_uri(database)))

    def psql(self, sql: str, database: str = "postgres") -> str:
        if database == "postgres":
            return str(self.server.psql(sql))
        return self.psql_in(database, sql)

    def psql_in(self, database: str, sql: str, *, is_file: bool = False) -> str:
        """Run SQL (or a SQL file) in a given database with the bundled psql (no driver)."""
        return bundled_psql(self.server, database, sql, is_file=is_file)

    def create_database(self, prefix: str = "t", template: str | None = None) -> str:
        """Create a uniquely named database (optionally cloned) and return its URL."""
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self.server.psql(f'CREATE DATABASE "{name}"{clause};')
        self.created.append(name)
        return self.url(name)

    def database_name(self, url: str) -> str:
        return url.rsplit("/", 1)[1].split("?", 1)[0]


@contextmanager
def server_data_dir(prefix: str = "statewave-test-") -> Iterator[Path]:
    """A world-traversable temp directory outside pytest's private (0700) tmp tree.

    As root, PostgreSQL runs as an unprivileged user that must reach its data directory;
    pytest re-tightens the permissions of its own tmp root, so servers live here instead.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_cli(
    args: list[str],
    database_url: str | None,
    *,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <args>`` from the repo root against a given database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["STATEWAVE_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def alembic(
    *args: str, database_url: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real ``alembic`` command line (as an operator would) against a database."""
    done = run_cli(["alembic", *args], database_url, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(
            f"alembic {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done
