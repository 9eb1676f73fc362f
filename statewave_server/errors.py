"""Domain exceptions, mapped to the HTTP error envelope in one place (``api/errors.py``)."""

from __future__ import annotations

from typing import Any


class StatewaveError(Exception):
    """Base of all domain errors: a stable machine code plus a human message."""

    code = "error"
    status_code = 500

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class NotFound(StatewaveError):
    code = "not_found"
    status_code = 404


class Conflict(StatewaveError):
    code = "conflict"
    status_code = 409


class Unavailable(StatewaveError):
    """A dependency (usually the database) cannot serve the request right now."""

    code = "service_unavailable"
    status_code = 503


# Where SQLAlchemy appends the statement, its parameters or its help link to a message.
_SQL_MARKERS = ("[SQL:", "[parameters:", "(Background on this error")


def without_sql(message: str, max_chars: int = 500) -> str:
    """``message`` cut before any SQL text, on one line: what clients may see of an error
    (a job's ``error`` is shown by ``GET /v1/memories/compile/{id}``)."""
    for marker in _SQL_MARKERS:
        message = message.split(marker, 1)[0]
    return " ".join(message.split())[:max_chars]
