"""The composition root: builds the one ASGI app from its faces (the JSON API, the HTML
console, the MCP endpoint) and runs the in-process worker in its lifespan.

Only this module knows all the faces: ``api/`` never imports ``console/`` or ``mcp/``.
Settings are read here (and at the other entry points), never inside the rooms below.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware

from statewave_server import __version__
from statewave_server.api import ops
from statewave_server.api.admin import router as admin_router
from statewave_server.api.errors import install_error_handlers
from statewave_server.api.limits import BodyLimitMiddleware
from statewave_server.api.middleware import RequestContextMiddleware
from statewave_server.api.network import (
    AllowedHostsMiddleware,
    LoopbackOnlyMiddleware,
    PeerMiddleware,
    cors_middleware,
)
from statewave_server.api.rate_limit import RateLimiter, RateLimitMiddleware, build_rate_limiter
from statewave_server.api.schema_gate import SchemaGateMiddleware
from statewave_server.api.schema_gate import gate_for as schema_gate_for
from statewave_server.api.security import (
    HEALTH_PATHS,
    APIKeyMiddleware,
    SecuritySettings,
    TenantMiddleware,
    announce_exposure,
)
from statewave_server.api.v1 import context, episodes, memories, subjects, support
from statewave_server.console.auth import is_console_path
from statewave_server.console.gate import ConsoleGateMiddleware
from statewave_server.console.routes import router as console_router
from statewave_server.db.engine import Database, release_database, resolve_database_url
from statewave_server.logging import configure_logging
from statewave_server.mcp.http import McpRefusals, mount_mcp
from statewave_server.ops.startup import enforce_schema_guard
from statewave_server.services.runtime import MemoryRuntime, build_runtime
from statewave_server.settings import Settings, get_settings
from statewave_server.telemetry import setup_tracing, shutdown_tracing
from statewave_server.worker.handlers import build_handlers
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
            handlers = build_handlers(app.state.runtime)
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
    app.state.rate_limiter = rate_limiter or build_rate_limiter(
        app.state.security.rate_limit_rpm,
        app.state.security.rate_limit_strategy,
        _database_url(app),
    )
    install_error_handlers(app)
    for middleware in reversed(_middleware(settings, app.state.security, app.state.rate_limiter)):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.include_router(ops.router)
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


def _middleware(
    settings: Settings, security: SecuritySettings, limiter: RateLimiter | None
) -> list[Middleware]:
    """The edge, outermost first. Requests refused early (unknown host, non-loopback
    client without a key, bad credentials) are never counted by the rate limiter; the
    console's gate sits just outside the API key check it vouches to."""
    stack = [
        Middleware(McpRefusals),
        Middleware(PeerMiddleware, trusted_proxies=security.trusted_proxies),
    ]
    if security.cors_origins:
        stack.append(Middleware(cors_middleware, origins=security.cors_origins))
    stack += [
        Middleware(RequestContextMiddleware),
        Middleware(AllowedHostsMiddleware, allowed=security.effective_allowed_hosts),
    ]
    if security.api_key is None:
        stack.append(Middleware(LoopbackOnlyMiddleware))
    stack += [
        Middleware(ConsoleGateMiddleware, api_key=security.api_key),
        Middleware(
            APIKeyMiddleware, api_key=security.api_key, failure_limit=security.auth_failure_limit
        ),
    ]
    if limiter is not None:
        stack.append(Middleware(RateLimitMiddleware, limiter=limiter, exempt=HEALTH_PATHS))
    stack += [
        Middleware(
            TenantMiddleware,
            header=security.tenant_header,
            required=security.require_tenant,
            optional_on=is_console_path,
        ),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            timeout=settings.body_timeout_seconds,
            max_uploads=settings.max_concurrent_uploads,
        ),
        Middleware(SchemaGateMiddleware),
    ]
    return stack


def _database_url(app: FastAPI) -> Callable[[], str]:
    """The app's database URL once the lifespan has resolved it (for the distributed
    rate limiter, which opens its own small engine on first use)."""

    def resolve() -> str:
        database = app.state.database
        if database is None:
            raise LookupError("the application's database is not initialised yet")
        return str(database.engine.url.render_as_string(hide_password=False))

    return resolve


app = create_app()
