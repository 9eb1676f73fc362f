"""An in-process API client over a real database (module-scoped)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import MemoryRuntime, build_runtime
from statewave_server.settings import Settings
from tests.api.admin_support import admin_client


@pytest.fixture(scope="module")
def api_settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        run_worker_in_process=False,
        webhook_url="http://127.0.0.1:9/hooks",
    )


@pytest.fixture(scope="session")
def local_runtime() -> MemoryRuntime:
    """The default runtime (heuristic compiler, local MiniLM model), loaded once."""
    return build_runtime(Settings(webhook_url="http://127.0.0.1:9/hooks"))


@pytest.fixture(scope="module")
async def api(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    database = Database.from_settings(api_settings)
    app = create_app(api_settings, database, local_runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    # Memory indexes are reused (as in the served app) only while changes are heard.
    async with (
        local_runtime.memory_index.following(database.listen_url),
        httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
    ):
        yield client
    await database.dispose()


@pytest.fixture(scope="module")
async def admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin API (no key configured) over the module's database; modules that need
    seeded data define their own ``admin``."""
    async with admin_client(api_settings, local_runtime) as client:
        yield client


@pytest.fixture(scope="module")
async def snap_admin(
    api_settings: Settings, local_runtime: MemoryRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin API with snapshots enabled."""
    settings = api_settings.model_copy(update={"enable_snapshots": True})
    async with admin_client(settings, local_runtime) as client:
        yield client
