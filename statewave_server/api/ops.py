"""Ops endpoints: liveness, readiness and migration state (thin: the logic is in ``ops``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from statewave_server import __version__
from statewave_server.api.deps import DatabaseDep, SettingsDep
from statewave_server.ops.migrations import migration_report
from statewave_server.ops.readiness import check_readiness

router = APIRouter(tags=["ops"])


@router.get("/", include_in_schema=False)
async def root() -> dict[str, str]:
    """Where a browser or ``curl`` landing on the root should go next (not a 404)."""
    return {
        "name": "Statewave",
        "version": __version__,
        "console": "/console",
        "docs": "/docs",
        "health": "/healthz",
        "readiness": "/readyz",
        "migrations": "/ops/migrations",
    }


@router.get("/healthz")
@router.get("/health", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Liveness only: the process answers; the database is not touched."""
    return {"status": "ok"}


@router.get("/readyz")
@router.get("/ready", include_in_schema=False)
async def readyz(database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    """200 when ready or degraded, 503 when not ready (including an unreachable database)."""
    readiness = await check_readiness(database, settings)
    code = 503 if readiness.status == "not_ready" else 200
    return JSONResponse(readiness.body(), status_code=code)


@router.get("/ops/migrations")
async def ops_migrations(
    database: DatabaseDep,
    settings: SettingsDep,
    verbose: Annotated[bool, Query(description="Add history, matrix, lock holder, drift.")] = False,
) -> dict[str, Any]:
    """Always 200: a database outage is reported in ``error``, not as an HTTP failure."""
    return await migration_report(
        database.engine, verbose=verbose, timeout_seconds=settings.db_connect_timeout_seconds
    )
