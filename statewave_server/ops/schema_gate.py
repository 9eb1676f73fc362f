"""May the data plane (API routes, workers) use the database's schema right now?

A non-strict server starts on an incompatible schema so an operator can inspect it
(``/ops/migrations``, ``/readyz``, the console), but nothing may read or write data through
it: queries would fail with raw SQL errors, and a worker would burn the previous version's
in-flight jobs. The verdict is cached and re-checked every ``ttl_seconds``, so an
``alembic upgrade head`` (or a downgrade underneath a running server) is noticed quickly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server import __version__
from statewave_server.ops.migrations import MigrationStatus, check_migration_status

DEFAULT_TTL_SECONDS = 10.0


class SchemaGate:
    """One per process; shared by the HTTP middleware and the in-process worker."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._status: MigrationStatus | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    def record(self, status: MigrationStatus) -> None:
        """Seed the verdict with a check made elsewhere (the startup guard's)."""
        self._status, self._checked_at = status, time.monotonic()

    async def blocked(self) -> MigrationStatus | None:
        """The status when the schema is unusable (below the minimum, or foreign), else None.

        An unreachable database does not close the gate: requests then fail with the usual
        503 ``database_unavailable`` and recover with the database.
        """
        if time.monotonic() - self._checked_at >= self._ttl:
            async with self._lock:
                if time.monotonic() - self._checked_at >= self._ttl:
                    fresh = await check_migration_status(
                        self._engine, timeout_seconds=self._timeout
                    )
                    self.record(fresh)
        status = self._status
        return status if status is not None and status.unusable else None


def gate_for(app: Any) -> SchemaGate | None:
    """The app's gate (``app.state.schema_gate``), created on first use once the app has a
    database; shared by the API's middleware and the console's pages."""
    state = app.state
    gate: SchemaGate | None = getattr(state, "schema_gate", None)
    database = getattr(state, "database", None)
    if gate is None and database is not None:
        timeout = state.settings.db_connect_timeout_seconds
        gate = state.schema_gate = SchemaGate(database.engine, timeout_seconds=timeout)
    return gate


def refusal(status: MigrationStatus) -> str:
    """Why data is refused, and what the operator does about it."""
    return (
        f"The database schema cannot serve Statewave {__version__}: {status.summary}. "
        "An operator must migrate it (see GET /ops/migrations and "
        "`python scripts/preflight.py`)."
    )
