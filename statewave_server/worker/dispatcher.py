"""The webhook dispatcher: claim due outbox rows, POST them, record the outcome.

Each event is POSTed to ``STATEWAVE_WEBHOOK_URL`` as the stored JSON envelope
``{"event", "timestamp", "tenant_id", "data"}`` with these headers:

* ``X-Statewave-Event-Id`` — the row's UUID, identical on every retry: receivers dedupe on it.
* ``X-Statewave-Event`` — the event name, e.g. ``episode.created``.
* ``X-Statewave-Timestamp`` — Unix seconds when this attempt was sent.
* ``X-Statewave-Delivery-Attempt`` — 1 for the first attempt, 2 for the first retry, …
* ``X-Statewave-Signature`` —
  ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<event id>.<raw body>")>``, sent only when
  ``STATEWAVE_WEBHOOK_SECRET`` is set (verify with
  :func:`statewave_server.services.webhook_signing.verify`).

Every attempt first checks the destination (``destinations.py``): a refused address
dead-letters the event at once. At most ``MAX_REPLY_BYTES`` of a reply are read, never
decompressed, so a large or gzip-bomb reply cannot inflate the process.

Outcomes: 2xx → ``delivered``; 408, 429, any other non-4xx status, a timeout or a network
error → retried after exponential backoff with jitter until ``max_attempts``, then
``dead_letter``; any other 4xx → ``dead_letter`` at once. Claims use ``SKIP LOCKED`` so
several dispatchers never send one event twice; a dispatcher that dies mid-delivery leaves
its rows to be re-claimed once the lease expires (delivery is at-least-once in that case).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server import __version__
from statewave_server.db import outbox, webhook_attempts
from statewave_server.db.engine import Database
from statewave_server.db.models import WebhookEvent
from statewave_server.services.webhook_signing import sign
from statewave_server.settings import Settings
from statewave_server.worker.destinations import (
    DestinationPolicy,
    DestinationRefused,
    pinned_request,
)
from statewave_server.worker.policy import Backoff, webhook_backoff

# Pause after a database error, so an outage is not logged at the poll rate.
DB_ERROR_PAUSE_SECONDS = 5.0
_ERROR_CHARS = 200
#: While the attempt table is missing, how long deliveries skip the log before trying again.
ATTEMPT_LOG_RECHECK_SECONDS = 60.0
# Bytes of a receiver's reply read (raw, as sent on the wire): enough for the error text.
MAX_REPLY_BYTES = 4096

log = structlog.get_logger("statewave.webhooks")


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    delivered: bool
    http_status: int | None = None
    error: str | None = None
    permanent: bool = False
    reply: str | None = None  # the start of the receiver's body, for the attempt log


def classify(status: int, body: str) -> Outcome:
    """2xx delivered; 408/429 and non-4xx retried; other 4xx permanent."""
    if 200 <= status < 300:
        return Outcome(delivered=True, http_status=status, reply=body)
    permanent = 400 <= status < 500 and status not in (408, 429)
    error = f"HTTP {status}: {body[:_ERROR_CHARS]}"
    return Outcome(
        delivered=False, http_status=status, error=error, permanent=permanent, reply=body
    )


def encode_body(event: WebhookEvent) -> bytes:
    """The exact bytes sent (and signed) for an event."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_headers(event: WebhookEvent, body: bytes, secret: str | None) -> dict[str, str]:
    """Request headers for one attempt; signed when a secret is configured."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Statewave-Webhooks/{__version__}",
        "X-Statewave-Event-Id": str(event.id),
        "X-Statewave-Event": event.event,
        "X-Statewave-Timestamp": timestamp,
        "X-Statewave-Delivery-Attempt": str(event.attempts),
    }
    if secret:
        headers["X-Statewave-Signature"] = sign(secret, timestamp, str(event.id), body)
    return headers


async def read_reply(response: httpx.Response, limit: int = MAX_REPLY_BYTES) -> str:
    """Up to ``limit`` raw bytes of the reply as text; an encoded (e.g. gzip) reply is not
    decompressed at all."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return f"[{encoding}-encoded reply not read]"
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk[: limit - len(head)]
        if len(head) >= limit:
            break
    return head.decode("utf-8", "replace")


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


class Dispatcher:
    """Delivers due outbox rows to the configured URL until stopped."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        policy: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.webhook_url:
            raise ValueError("the webhook dispatcher needs STATEWAVE_WEBHOOK_URL")
        self._db = database
        self._settings = settings
        self._url = settings.webhook_url
        self._destinations = DestinationPolicy(
            allow_private=settings.webhook_allow_private,
            allow_loopback=settings.webhook_allow_loopback,
        )
        secret = settings.webhook_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._policy = policy or webhook_backoff(settings)
        self._transport = transport
        self._attempt_log_warned = False
        self._attempt_log_retry_at = 0.0  # while the table is missing: when to look again
        if settings.webhook_claim_lease_seconds <= settings.webhook_timeout_seconds:
            log.warning(
                "webhook_lease_too_short",
                lease_seconds=settings.webhook_claim_lease_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
            )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._settings.webhook_timeout_seconds,
            follow_redirects=False,
            transport=self._transport,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a batch in flight is finished first."""
        log.info("webhook_dispatcher_started", url=self._url, signed=self._secret is not None)
        idle = self._settings.webhook_poll_interval_seconds
        async with self._client() as client:
            while not stop.is_set():
                try:
                    if await self._dispatch_batch(client):
                        continue
                    pause = idle
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("webhook_dispatcher_db_error", error=str(exc))
                    pause = max(idle, DB_ERROR_PAUSE_SECONDS)
                await _wait(stop, pause)
        log.info("webhook_dispatcher_stopped")

    async def run_once(self) -> int:
        """Claim and deliver one batch; the number of events attempted."""
        async with self._client() as client:
            return await self._dispatch_batch(client)

    async def _dispatch_batch(self, client: httpx.AsyncClient) -> int:
        async with self._db.primary() as session, session.begin():
            claimed = await outbox.claim_due(
                session,
                self._settings.webhook_batch_size,
                self._settings.webhook_claim_lease_seconds,
            )
        results = await asyncio.gather(
            *(self._deliver(client, event) for event in claimed), return_exceptions=True
        )
        for result in results:  # every delivery has finished; now surface the first failure
            if isinstance(result, BaseException):
                raise result
        return len(claimed)

    async def _deliver(self, client: httpx.AsyncClient, event: WebhookEvent) -> None:
        started = time.monotonic()
        outcome = await self._attempt(client, event)
        elapsed_ms = (time.monotonic() - started) * 1000
        fields = {
            "event_id": str(event.id),
            "webhook_event": event.event,
            "tenant_id": event.tenant_id,
            "attempt": event.attempts,
            "http_status": outcome.http_status,
            "duration_ms": round(elapsed_ms, 1),
        }
        await self._record(event, outcome, round(elapsed_ms), fields)

    async def _attempt(self, client: httpx.AsyncClient, event: WebhookEvent) -> Outcome:
        body = encode_body(event)
        headers = build_headers(event, body, self._secret)
        url = httpx.URL(self._url)
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                response = await self._send(client, url, body, headers)
                try:
                    reply = await read_reply(response)
                finally:
                    await response.aclose()
        except DestinationRefused as exc:
            error = f"destination refused: {str(exc)[:_ERROR_CHARS]}"
            return Outcome(delivered=False, error=error, permanent=True)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            name = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
            error = f"{name} ({where}): {str(exc)[:_ERROR_CHARS]}"  # which receiver failed
            return Outcome(delivered=False, error=error)
        return classify(response.status_code, reply)

    async def _send(
        self, client: httpx.AsyncClient, url: httpx.URL, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        """Send to the first checked address of the URL's host that accepts a connection."""
        *others, last = await self._destinations.resolve(url)
        for address in others:
            request = pinned_request(client, url, address, content=body, headers=headers)
            with contextlib.suppress(httpx.ConnectError):
                return await client.send(request, stream=True)
        request = pinned_request(client, url, last, content=body, headers=headers)
        return await client.send(request, stream=True)

    async def _record(
        self,
        event: WebhookEvent,
        outcome: Outcome,
        duration_ms: int,
        fields: dict[str, object],
    ) -> None:
        assert event.claimed_at is not None
        delay = self._policy.delay(event.attempts)
        async with self._db.primary() as session, session.begin():
            if outcome.delivered:
                assert outcome.http_status is not None
                ours = await outbox.mark_delivered(
                    session, event.id, event.claimed_at, outcome.http_status
                )
                status: str | None = outbox.DELIVERED if ours else None
            else:
                status = await outbox.mark_failed(
                    session,
                    event.id,
                    event.claimed_at,
                    error=outcome.error or "unknown error",
                    http_status=outcome.http_status,
                    retry_delay_seconds=delay,
                    permanent=outcome.permanent,
                )
            await self._log_attempt(session, event, outcome, duration_ms)
        if status == outbox.DELIVERED:
            log.info("webhook_delivered", **fields)
        elif status == outbox.PENDING:
            log.info(
                "webhook_retry_scheduled", retry_in=round(delay, 3), error=outcome.error, **fields
            )
        elif status == outbox.DEAD_LETTER:
            log.info("webhook_dead_lettered", error=outcome.error, **fields)
        else:
            log.warning("webhook_claim_lost", **fields)

    async def _log_attempt(
        self, session: AsyncSession, event: WebhookEvent, outcome: Outcome, duration_ms: int
    ) -> None:
        """Add the attempt to the log in the outcome's transaction. The log never fails a
        delivery: a missing table (a database the original server migrated) records
        nothing, with one warning, and is looked for again a minute later (not on every
        delivery, which would put an error in PostgreSQL's log each time); any other error
        loses this row only (its savepoint)."""
        if time.monotonic() < self._attempt_log_retry_at:
            return
        try:
            await webhook_attempts.record(
                session,
                event_id=event.id,
                tenant_id=event.tenant_id,
                attempt=event.attempts,
                http_status=outcome.http_status,
                duration_ms=duration_ms,
                error=outcome.error,
                response_snippet=outcome.reply,
            )
        except webhook_attempts.AttemptLogMissing:
            self._attempt_log_retry_at = time.monotonic() + ATTEMPT_LOG_RECHECK_SECONDS
            if not self._attempt_log_warned:
                self._attempt_log_warned = True
                log.warning(
                    "webhook_attempts_table_missing",
                    table=webhook_attempts.ATTEMPTS_TABLE,
                    fix="run `alembic upgrade head` once to create it; deliveries continue",
                )
        except SQLAlchemyError as exc:
            log.warning("webhook_attempt_not_logged", event_id=str(event.id), error=str(exc))


def start_dispatcher(
    database: Database, settings: Settings, stop: asyncio.Event
) -> asyncio.Task[None]:
    """Run a dispatcher task in this event loop until ``stop`` is set."""
    dispatcher = Dispatcher(database, settings)
    return asyncio.create_task(dispatcher.run(stop), name="statewave-webhooks")
