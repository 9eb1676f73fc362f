"""A throwaway PgBouncer (Debian's ``pgbouncer``) in transaction pooling mode in front of
the embedded PostgreSQL, started the way the tests start PostgreSQL. Listens on a free
loopback port; as root it runs as the user who owns PostgreSQL's socket directory (who
alone may enter it; PgBouncer refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.server import free_port

BINARY_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
STATEMENT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Bouncer:
    port: int
    log_path: Path

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def pgbouncer_binary() -> str:
    """The binary; a missing one skips locally and fails under ``CI=true``."""
    found = shutil.which("pgbouncer") or next(
        (p for p in BINARY_PATHS if os.access(p, os.X_OK)), None
    )
    if found is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _config(root: Path, socket_dir: Path, pg_port: int, port: int, pool_size: int) -> str:
    backend = (
        f"host={socket_dir} port={pg_port} user=postgres "
        f"connect_query='SET statement_timeout = {STATEMENT_TIMEOUT_MS}'"
    )
    return f"""\
[databases]
* = {backend}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root / "users.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""


@contextmanager
def pgbouncer(socket_dir: Path, pg_port: int, *, pool_size: int = 8) -> Iterator[Bouncer]:
    """PgBouncer (``pool_mode = transaction``) in front of the server at ``socket_dir``;
    stopped and removed on exit."""
    binary = pgbouncer_binary()
    root = Path(tempfile.mkdtemp(prefix="sw-pgbouncer-"))
    user = pwd.getpwuid(socket_dir.stat().st_uid).pw_name if os.geteuid() == 0 else None
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    config = root / "pgbouncer.ini"
    config.write_text(_config(root, socket_dir, pg_port, port, pool_size))
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "users.txt", config):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    command = [binary, str(config)]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    bouncer = Bouncer(port, root / "pgbouncer.log")
    try:
        _wait_listening(process, port, bouncer)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], port: int, bouncer: Bouncer) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited with {process.returncode}:\n{bouncer.logs()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"pgbouncer did not listen in time:\n{bouncer.logs()}")
