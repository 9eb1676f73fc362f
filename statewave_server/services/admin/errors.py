"""Admin-specific error statuses (mapped to the envelope like every domain error)."""

from __future__ import annotations

from statewave_server.errors import StatewaveError


class BadRequest(StatewaveError):
    """The request is well-formed but asks for something refused (400)."""

    code = "bad_request"
    status_code = 400


class PayloadTooLarge(StatewaveError):
    """More records than the import limits allow (413)."""

    code = "payload_too_large"
    status_code = 413
