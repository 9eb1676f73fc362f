"""What a failed job records as its error: readable by API clients, never SQL."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from statewave_server.errors import without_sql


def job_error_text(exc: BaseException) -> str:
    """``Type: message`` for the job row; for a database error the driver's words only
    (SQLAlchemy's own message carries the statement and its parameters)."""
    source = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return without_sql(f"{type(exc).__name__}: {source}") or type(exc).__name__
