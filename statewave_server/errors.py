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
