"""A throwaway cluster of the machine's Debian PostgreSQL (which has no pgvector).

Used to test what happens on a server without the ``vector`` extension (migration 0001's
error, preflight's no-go). Listens only on a Unix socket in a private temp directory. When
run as root, the cluster is created and run as an unprivileged system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CANDIDATE_USERS = ("postgres", "pgserver")


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` with ``initdb``, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


@dataclass(frozen=True)
class DebianCluster:
    """A running cluster: connect over the Unix socket in ``socket_dir`` on ``port``."""

    socket_dir: Path
    port: int
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        """An asyncpg URL for ``database`` (superuser ``postgres``, trust auth)."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = [str(self.bin_dir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        connection = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [*psql, *connection, "-d", database, "-c", sql],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as_user() -> str | None:
    """The unprivileged user to run the server as (``None`` when not root)."""
    if os.geteuid() != 0:
        return None
    for name in CANDIDATE_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(f"running as root and none of {CANDIDATE_USERS} exists")


def _run(command: list[str], user: str | None) -> None:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


@contextmanager
def debian_postgres() -> Iterator[DebianCluster]:
    """Start a fresh cluster with the Debian binaries; stop and delete it on exit."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb on this machine")
    user = _run_as_user()
    root = Path(tempfile.mkdtemp(prefix="sw-debian-pg-"))
    data = root / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"], user)
        options = f"-c listen_addresses='' -c unix_socket_directories='{root}' -p {port}"
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "start"]
        _run([*start, "-l", str(root / "server.log")], user)
        try:
            yield DebianCluster(socket_dir=root, port=port, bin_dir=bin_dir)
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user)
    finally:
        shutil.rmtree(root, ignore_errors=True)
