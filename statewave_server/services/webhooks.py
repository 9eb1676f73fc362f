"""Webhook signatures (for the dispatcher and for receivers) and the outbox admin service.

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
import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import webhooks as outbox
from statewave_server.db.models import WebhookEvent
from statewave_server.errors import NotFound

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


# --- outbox administration (one transaction per call) -------------------------------------


async def list_events(
    db: async_sessionmaker[AsyncSession],
    *,
    status: str | None = None,
    event_type: str | None = None,
    tenant_id: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> outbox.EventPage:
    """A page of outbox rows, newest first (``id_prefix``: the rows a short id names)."""
    async with db() as session:
        return await outbox.list_events(
            session,
            status=status,
            event_type=event_type,
            tenant_id=tenant_id,
            id_prefix=id_prefix,
            limit=limit,
            offset=offset,
        )


async def get_event(db: async_sessionmaker[AsyncSession], event_id: uuid.UUID) -> WebhookEvent:
    """One outbox row, or :class:`NotFound`."""
    async with db() as session:
        event = await outbox.get_event(session, event_id)
    if event is None:
        raise NotFound("Webhook event not found")
    return event


async def stats(db: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Counts per delivery status plus ``total``."""
    async with db() as session:
        return await outbox.stats(session)


async def redrive(
    db: async_sessionmaker[AsyncSession],
    *,
    event_ids: Collection[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Return dead letters (``event_ids``, or all when None) to the queue; ids redriven."""
    async with db() as session, session.begin():
        return await outbox.redrive(session, event_ids=event_ids)
