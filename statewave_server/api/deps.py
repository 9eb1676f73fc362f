"""FastAPI dependencies shared by the routers: what the app holds and the request tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.engine import Database
from statewave_server.db.models import DEFAULT_TENANT
from statewave_server.db.read_routing import SessionFactory
from statewave_server.services.events import EventSink
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings


def tenant_id(request: Request) -> str:
    """The tenant resolved by ``TenantMiddleware``; ``''`` means single-tenant mode."""
    value = request.scope.get("state", {}).get("tenant_id", DEFAULT_TENANT)
    return value if isinstance(value, str) else DEFAULT_TENANT


def app_settings(request: Request) -> Settings:
    """The settings the app was built with (``app.state.settings``)."""
    settings: Settings = request.app.state.settings
    return settings


def database(request: Request) -> Database:
    """The process's database (``app.state.database``, set by the app's lifespan)."""
    found: Database = request.app.state.database
    return found


def db(request: Request) -> async_sessionmaker[AsyncSession]:
    return database(request).primary


def read_db(request: Request) -> SessionFactory:
    """Sessions for read-only routes: the read replica when configured and caught up."""
    return database(request).reads


def runtime(request: Request) -> MemoryRuntime:
    """Compiler, embedder and event sink, built once per process."""
    built: MemoryRuntime = request.app.state.runtime
    return built


def events(request: Request) -> EventSink:
    """Outbox writer: enabled only when a webhook URL is configured."""
    return runtime(request).events


TenantId = Annotated[str, Depends(tenant_id)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
DatabaseDep = Annotated[Database, Depends(database)]
DbDep = Annotated[async_sessionmaker[AsyncSession], Depends(db)]
ReadDbDep = Annotated[SessionFactory, Depends(read_db)]
EventsDep = Annotated[EventSink, Depends(events)]
RuntimeDep = Annotated[MemoryRuntime, Depends(runtime)]
