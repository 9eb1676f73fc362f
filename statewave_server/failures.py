"""How a failure raised while serving a request is reported, whatever the transport:
the JSON API's envelope (``api/errors.py``), the MCP tools, the console's HTML pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from statewave_server.errors import StatewaveError

log = structlog.get_logger("statewave.errors")

DB_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError)


@dataclass(frozen=True)
class Failure:
    """How a failure raised while serving a request is reported to the client."""

    status: int
    code: str
    message: str
    details: Any = None


_UNAVAILABLE = Failure(503, "database_unavailable", "The database is unavailable; retry.")
_INTERNAL = Failure(500, "internal_error", "An unexpected error occurred")

# The server cannot serve anyone right now: shutting down / starting up / crash recovery
# (57P01-57P05, which asyncpg raises as a plain DBAPIError) or out of connections (53300).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05", "53300"})


def failure_of(exc: Exception) -> Failure:
    """Domain errors keep their code; database outages are 503s; a value PostgreSQL cannot
    take (SQLSTATE class 22: a NUL in text, a number out of range…) is the client's 422
    (the statement's transaction is already rolled back); anything else is a logged 500.

    Shared by every transport (the REST handlers, the MCP tools, the console's pages).
    """
    if isinstance(exc, StatewaveError):
        return Failure(exc.status_code, exc.code, exc.message, exc.details)
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    unavailable = isinstance(exc, DB_UNAVAILABLE)
    if isinstance(exc, DBAPIError) and not unavailable:
        if sqlstate.startswith("22"):
            return Failure(422, "invalid_value", "A value cannot be stored as given.")
        unavailable = (
            exc.connection_invalidated
            or sqlstate.startswith("08")
            or sqlstate in _UNAVAILABLE_SQLSTATES
        )
    if unavailable:
        log.warning("database_unavailable", error_type=type(exc).__name__, error=str(exc)[:300])
        return _UNAVAILABLE
    log.error("unhandled_exception", exc_info=exc)
    return _INTERNAL
