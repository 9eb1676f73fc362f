"""Every domain exception, and how any failure raised while serving a request is reported,
whatever the transport: the JSON API's envelope (``api/errors.py``), the MCP tools and the
console's HTML pages all classify through :func:`failure_of`.

The hierarchy (HTTP status, then the envelope's ``code``)::

    StatewaveError                 500 error             base: a stable code and a message
    ├── BadRequest                 400 bad_request       well-formed, but asks for something refused
    │   └── InvalidIdempotencyKey  400 invalid_idempotency_key
    ├── NotFound                   404 not_found         (callers pass e.g. subject_not_found)
    ├── Conflict                   409 conflict
    │   ├── IdempotencyConflict    409 idempotency_conflict   same key, different episode
    │   └── CompileInProgress      409 compile_in_progress    the subject's compile holds it
    ├── PayloadTooLarge            413 payload_too_large  more records than the import limits
    ├── EmbeddingsDisabled         500 embeddings_disabled    no model to backfill with
    └── Unavailable                503 service_unavailable    a dependency cannot serve now
        └── EmbeddingError         503 embedding_unavailable  the embedding backend failed

Errors that never reach a client stay beside the code that raises and catches them: the
LLM adapter's ``LLMError`` family (``services/llm.py``, turned into failed compile batches),
``BackupError`` (``ops/backup.py``), ``TokenizerChecksumError``, the worker's
``UnknownJobKind`` and ``DestinationRefused``, and the edge's ``BodyRefused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


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


class BadRequest(StatewaveError):
    """The request is well-formed but asks for something refused (400)."""

    code = "bad_request"
    status_code = 400


class InvalidIdempotencyKey(BadRequest):
    """An ``Idempotency-Key`` header that is empty, too long or not printable."""

    code = "invalid_idempotency_key"


class NotFound(StatewaveError):
    code = "not_found"
    status_code = 404


class Conflict(StatewaveError):
    code = "conflict"
    status_code = 409


class IdempotencyConflict(Conflict):
    """An idempotency key reused for a different episode."""

    code = "idempotency_conflict"


class CompileInProgress(Conflict):
    """The subject's previous compile did not finish in time (409; the caller retries)."""

    code = "compile_in_progress"


class PayloadTooLarge(StatewaveError):
    """More records than the import limits allow (413)."""

    code = "payload_too_large"
    status_code = 413


class EmbeddingsDisabled(StatewaveError):
    """``STATEWAVE_EMBEDDING_PROVIDER=none``: there is no model to backfill with."""

    code = "embeddings_disabled"


class Unavailable(StatewaveError):
    """A dependency (usually the database) cannot serve the request right now."""

    code = "service_unavailable"
    status_code = 503


class EmbeddingError(Unavailable):
    """The embedding backend failed or timed out; the caller may retry later."""

    code = "embedding_unavailable"


# Where SQLAlchemy appends the statement, its parameters or its help link to a message.
_SQL_MARKERS = ("[SQL:", "[parameters:", "(Background on this error")


def without_sql(message: str, max_chars: int = 500) -> str:
    """``message`` cut before any SQL text, on one line: what clients may see of an error
    (a job's ``error`` is shown by ``GET /v1/memories/compile/{id}``)."""
    for marker in _SQL_MARKERS:
        message = message.split(marker, 1)[0]
    return " ".join(message.split())[:max_chars]


# --- how a failure is reported ------------------------------------------------------------

_log = structlog.get_logger("statewave.errors")

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
        _log.warning("database_unavailable", error_type=type(exc).__name__, error=str(exc)[:300])
        return _UNAVAILABLE
    _log.error("unhandled_exception", exc_info=exc)
    return _INTERNAL
