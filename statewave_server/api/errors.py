"""The one place where exceptions become the error envelope.

``{"error": {"code", "message", "details"?, "request_id"?}}`` — fields that are None are
omitted, so clients can rely on ``code`` and ``message`` always being strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from statewave_server.errors import StatewaveError

log = structlog.get_logger("statewave.errors")

_DB_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError)


def error_body(
    code: str, message: str, *, details: Any = None, request_id: str | None = None
) -> dict[str, Any]:
    """The envelope as a dict, without the optional fields that are None."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = jsonable_encoder(details)
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def _respond(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = error_body(code, message, details=details, request_id=request_id)
    return JSONResponse(body, status_code=status)


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

    Shared by every transport (the REST handlers below, the MCP tools).
    """
    if isinstance(exc, StatewaveError):
        return Failure(exc.status_code, exc.code, exc.message, exc.details)
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    unavailable = isinstance(exc, _DB_UNAVAILABLE)
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


async def _on_failure(request: Request, exc: Exception) -> JSONResponse:
    failure = failure_of(exc)
    return _respond(request, failure.status, failure.code, failure.message, failure.details)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{k: v for k, v in err.items() if k != "ctx"} for err in exc.errors()]
    return _respond(request, 422, "validation_error", "Request validation failed", details)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if isinstance(detail, dict) and isinstance(detail.get("code"), str):
        response = _respond(
            request,
            exc.status_code,
            detail["code"],
            str(detail.get("message", "")),
            detail.get("details"),
        )
    else:
        response = _respond(request, exc.status_code, "http_error", str(detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the envelope: domain, validation, HTTP, database, unexpected."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    for exc_type in (StatewaveError, *_DB_UNAVAILABLE, DBAPIError, Exception):
        app.add_exception_handler(exc_type, _on_failure)
