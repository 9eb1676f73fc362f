"""The database every worker test drives (a fresh one at head per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from statewave_server.db.engine import Database
from tests.fixtures.factories import database_for


@pytest.fixture
async def db(head_db_url: str) -> AsyncIterator[Database]:
    """Pool of 10: several workers and dispatchers share it in one test."""
    engine = create_async_engine(head_db_url, pool_size=10)
    yield database_for(engine)
    await engine.dispose()
