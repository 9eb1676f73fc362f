"""Webhook signatures: the dispatcher signs each delivery, a receiver checks it.

Signature scheme: ``X-Statewave-Signature: sha256=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with ``STATEWAVE_WEBHOOK_SECRET``, over
``"<timestamp>.<event id>.<raw body>"`` (``<timestamp>`` is the ``X-Statewave-Timestamp``
header, Unix seconds; ``<event id>`` the ``X-Statewave-Event-Id`` header; the raw body the
exact request bytes). A receiver recomputes it with :func:`verify`, compares in constant
time, and rejects stale timestamps; because the event id is signed, a captured delivery
cannot be replayed under a fresh id, so deduplicating on the id stops replays too.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_PREFIX = "sha256="
# How far a signed timestamp may be from the receiver's clock by default (replay window).
DEFAULT_TOLERANCE_SECONDS = 300


def _message(timestamp: int | str, event_id: str, body: bytes) -> bytes:
    return f"{timestamp}.{event_id}.".encode() + body


def sign(secret: str, timestamp: int | str, event_id: str, body: bytes) -> str:
    """The ``X-Statewave-Signature`` value for event ``event_id`` (``body``) sent at
    ``timestamp``."""
    message = _message(timestamp, event_id, body)
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: int | str,
    event_id: str,
    body: bytes,
    signature: str | None,
    *,
    tolerance_seconds: float | None = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``signature`` is ours for this event id, body and timestamp (constant-time
    compare) and, unless ``tolerance_seconds`` is None, the timestamp is within the replay
    window."""
    if not signature or not str(timestamp).isascii() or not str(timestamp).isdigit():
        return False  # only plain Unix seconds: no sign, underscores or spaces
    sent_at = int(timestamp)
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - sent_at) > tolerance_seconds:
            return False
    expected = sign(secret, sent_at, event_id, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))
