"""``statewave serve``: zero set-up on the embedded database, plain uvicorn otherwise."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

import structlog
import uvicorn

from statewave_server.cli.banner import print_banner
from statewave_server.db.engine import resolve_database_url
from statewave_server.db.migrate import upgrade_to_head
from statewave_server.http_protocol import HeaderTimeoutProtocol
from statewave_server.logging import configure_logging
from statewave_server.ops.wait import wait_for_database
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.serve")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the SIGTERM it stopped on; exiting through ``SystemExit`` (not the
    default handler, which kills the process at once) runs the ``atexit`` hook that stops
    the embedded PostgreSQL this process started."""
    raise SystemExit(128 + signum)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Wait for the database, migrate it if it is the embedded one, then serve.

    An external database is migrated by its operator (``alembic upgrade head`` or
    ``./start.sh``); the startup schema guard reports a mismatch. uvicorn's own
    ``X-Forwarded-*`` handling is off (the app believes only ``STATEWAVE_TRUSTED_PROXIES``)
    and request headers have a deadline (``http_protocol.py``).
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    configure_logging(settings)
    url = resolve_database_url(settings)
    if not asyncio.run(wait_for_database(settings, url)):
        raise SystemExit("database unreachable; see `statewave preflight`")
    if settings.database_url is None:
        log.info("embedded_database_migrate")
        upgrade_to_head(url)
    host, port = host or settings.bind_host, port or settings.port
    print_banner(settings, host=host, port=port, database_url=url)
    uvicorn.run(
        "statewave_server.app:app",
        host=host,
        port=port,
        proxy_headers=False,
        http=HeaderTimeoutProtocol,
        log_config=None,
    )
