"""The one place where exceptions become the error envelope.

``{"error": {"code", "message", "details"?, "request_id"?}}`` — fields that are None are
omitted, so clients can rely on ``code`` and ``message`` always being strings.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from statewave_server.errors import DB_UNAVAILABLE, StatewaveError, failure_of


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
    for exc_type in (StatewaveError, *DB_UNAVAILABLE, DBAPIError, Exception):
        app.add_exception_handler(exc_type, _on_failure)
