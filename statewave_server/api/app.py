"""The FastAPI application: factory, lifespan, middleware and routers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from statewave_server import __version__
from statewave_server.api import admin_webhooks, ops
from statewave_server.api.admin import router as admin_router
from statewave_server.api.errors import install_error_handlers
from statewave_server.api.limits import BodyLimitMiddleware
from statewave_server.api.middleware import RequestContextMiddleware
from statewave_server.api.schema_gate import SchemaGateMiddleware
from statewave_server.api.schema_gate import gate_for as schema_gate_for
from statewave_server.api.security import (
    RateLimiter,
    SecuritySettings,
    announce_exposure,
    install_security,
)
from statewave_server.api.v1 import context, episodes, memories, subjects, support
from statewave_server.console.routes import router as console_router
from statewave_server.db.engine import Database, release_database, resolve_database_url
from statewave_server.logging import configure_logging
from statewave_server.mcp.http import mount_mcp
from statewave_server.ops.startup import enforce_schema_guard
from statewave_server.services.runtime import MemoryRuntime, build_runtime
from statewave_server.settings import Settings, get_settings
from statewave_server.telemetry import setup_tracing, shutdown_tracing
from statewave_server.worker.handlers import default_handlers
from statewave_server.worker.memory_jobs import memory_handlers
from statewave_server.worker.runner import in_process_worker

log = structlog.get_logger("statewave.app")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        setup_tracing(settings.tracing_enabled)
        stack.callback(shutdown_tracing)
        if getattr(app.state, "database", None) is None:
            url = await asyncio.to_thread(resolve_database_url, settings)
            stack.callback(release_database, settings)  # after the engine is disposed
            app.state.database = Database.from_settings(settings, url)
            stack.push_async_callback(app.state.database.dispose)
        guard = await enforce_schema_guard(settings, app.state.database)
        gate = schema_gate_for(app)
        if gate is not None:
            gate.record(guard.status)
        if getattr(app.state, "runtime", None) is None:
            app.state.runtime = await asyncio.to_thread(build_runtime, settings)
            if app.state.runtime.embedder is not None:
                await app.state.runtime.embedder.warm_up()
        listen_url = app.state.database.listen_url
        await stack.enter_async_context(app.state.runtime.memory_index.following(listen_url))
        if settings.run_worker_in_process:
            handlers = {**default_handlers(), **memory_handlers(app.state.runtime)}
            worker = in_process_worker(app.state.database, settings, handlers, gate=gate)
            await stack.enter_async_context(worker)
        await stack.enter_async_context(app.state.mcp.run())
        # Everything loaded so far lives as long as the process: moved out of the cyclic
        # collector's sight, full collections stop adding tens of ms to random requests.
        gc.collect()
        gc.freeze()
        log.info("app_startup", version=__version__, worker=settings.run_worker_in_process)
        announce_exposure(app.state.security)
        yield
        log.info("app_shutdown")


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    runtime: MemoryRuntime | None = None,
    *,
    security: SecuritySettings | None = None,
    rate_limiter: RateLimiter | None = None,
) -> FastAPI:
    """Build the app; ``database`` and ``runtime`` are created in the lifespan unless given
    (tests pass them, and edge-security overrides, to run without a lifespan)."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(title="Statewave", version=__version__, lifespan=_lifespan)
    app.state.settings = settings
    app.state.database = database
    app.state.runtime = runtime
    app.state.security = security or SecuritySettings.from_settings(settings)
    install_error_handlers(app)
    app.add_middleware(SchemaGateMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
        max_uploads=settings.max_concurrent_uploads,
    )
    app.add_middleware(RequestContextMiddleware)
    install_security(app, app.state.security, limiter=rate_limiter)
    app.include_router(ops.router)
    app.include_router(admin_webhooks.router)
    app.include_router(admin_router)
    app.include_router(console_router)
    for router in (
        episodes.router,
        memories.router,
        context.router,
        subjects.router,
        support.router,
    ):
        app.include_router(router)
    app.state.mcp = mount_mcp(app, settings)
    return app


app = create_app()
