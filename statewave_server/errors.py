"""Every domain exception, mapped to the HTTP error envelope in one place (``api/errors.py``,
``failure_of``, shared by the REST handlers and the MCP tools).

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
