"""A streaming replica of an embedded PostgreSQL, built with its bundled ``pg_basebackup -R``.

The replica gets a data directory and socket directory of its own (same default port,
another socket) and runs as the same system user as the primary (``pgserver`` when the
tests run as root). initdb's ``pg_hba.conf`` already trusts local replication
connections, and ``wal_level = replica`` is PostgreSQL's default, so the primary needs no
change.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.postgres import PgServer, psql_at
from statewave_server.db.urls import to_async_url
from tests.support.ci import require_real_part


@dataclass
class Replica:
    bin_path: Path
    data_dir: Path
    socket_dir: Path  # not the data directory: the primary's socket lock was copied there
    user: str | None  # the system user the server runs as (None: this one)

    def url(self, database: str) -> str:
        return to_async_url(f"postgresql://postgres:@/{database}?host={self.socket_dir}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        return psql_at(self.bin_path, self.socket_dir, database, sql)

    def _pg_ctl(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_path / "pg_ctl"), "-D", str(self.data_dir), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            log = self.data_dir / "replica.log"
            server_log = log.read_text() if log.exists() else ""
            raise AssertionError(f"pg_ctl {args[-1]} failed: {done.stderr}\n{server_log}")

    def start(self) -> None:
        log = self.data_dir / "replica.log"
        self._pg_ctl("-w", "-o", f'-h "" -k {self.socket_dir}', "-l", str(log), "start")

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def wait_caught_up(self, primary: PgServer, timeout: float = 60) -> None:
        """Until the replica has replayed everything the primary had written when asked."""
        target = primary.psql_in("postgres", "SELECT pg_current_wal_flush_lsn()")
        deadline = time.monotonic() + timeout
        while self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'") != "t":
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {target}")
            time.sleep(0.05)


@contextmanager
def streaming_replica(primary: PgServer, base: Path) -> Iterator[Replica]:
    """A running hot standby of ``primary`` in a new directory under ``base``, stopped after."""
    bin_path = Path(primary.server.bin_path)
    basebackup = bin_path / "pg_basebackup"
    require_real_part(basebackup.exists(), f"{basebackup} (embedded PostgreSQL) is missing")
    user: str | None = primary.server.system_user
    data_dir, socket_dir = base / "replica", base / "replica-socket"
    for directory in (data_dir, socket_dir):
        directory.mkdir(mode=0o700)
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(directory, account.pw_uid, account.pw_gid)
    primary_socket = primary.server.get_postmaster_info().socket_dir
    subprocess.run(
        [
            *(str(basebackup), "-h", str(primary_socket), "-U", "postgres"),
            *("-D", str(data_dir), "-R", "-X", "stream", "-c", "fast"),
        ],
        user=user,
        check=True,
        capture_output=True,
        timeout=120,
    )
    replica = Replica(bin_path, data_dir, socket_dir, user)
    replica.start()
    try:
        yield replica
    finally:
        if replica.running():
            replica.stop()
