"""Webhook delivery against real PostgreSQL and a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import resource
import signal
import subprocess
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import run_cli
from devtools.receiver import Receiver, running_receiver
from devtools.worker import worker_subprocess
from statewave_server.db import outbox
from statewave_server.db.engine import Database
from statewave_server.db.models import WebhookEvent
from statewave_server.services.webhook_signing import sign, verify
from statewave_server.settings import Settings
from statewave_server.worker.destinations import DestinationPolicy
from statewave_server.worker.dispatcher import Dispatcher, classify
from statewave_server.worker.policy import Backoff
from statewave_server.worker.runner import in_process_worker
from tests.fixtures.factories import database_for, wait_until
from tests.fixtures.readme import readme_blocks

SECRET = "whsec-test-1"
FAST: dict[str, Any] = {
    "webhook_secret": SECRET,
    "webhook_poll_interval_seconds": 0.05,
    "webhook_backoff_base_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
    "webhook_claim_lease_seconds": 30.0,
}


def hook_settings(url: str, **overrides: Any) -> Settings:
    return Settings(_env_file=None, webhook_url=url, **{**FAST, **overrides})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def add_events(
    db: Database, count: int, *, max_attempts: int = 10, tenants: tuple[str, ...] = ("",)
) -> list[str]:
    """Commit ``count`` outbox rows (tenants round-robin); their ids."""
    async with db.primary() as session, session.begin():
        for n in range(count):
            tenant = tenants[n % len(tenants)]
            data = {"id": f"ep-{n}", "subject_id": f"user-{n}"}
            await outbox.record_event(
                session, tenant, "episode.created", data, max_attempts=max_attempts
            )
    return [str(e.id) for e in await rows(db)]


async def rows(db: Database) -> list[WebhookEvent]:
    async with db.primary() as session:
        return list(await session.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at)))


def settled(db: Database, status: str = outbox.DELIVERED) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return all(row.status == status for row in await rows(db))

    return check


async def run_until(
    dispatchers: list[Dispatcher], done: Callable[[], Awaitable[bool]], within: float = 20
) -> None:
    """Run dispatchers concurrently until ``done``, then stop them gracefully."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run(stop)) for d in dispatchers]
    try:
        await wait_until(done, within=within)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def assert_exactly_once(receiver: Receiver, event_ids: list[str]) -> None:
    accepted = Counter(r.event_id for r in receiver.accepted())
    assert set(accepted) == set(event_ids)
    assert max(accepted.values()) == 1, [i for i, n in accepted.items() if n > 1]


def readme_verifier() -> Callable[[str, dict[str, str], bytes], bool]:
    """``verify_statewave`` from the README's receiver snippet, executed as written."""
    [code] = readme_blocks("webhook")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return cast(Callable[[str, dict[str, str], bytes], bool], namespace["verify_statewave"])


def assert_signed(received: list[Any]) -> None:
    readme_verify = readme_verifier()
    for request in received:
        ts, event_id, signature = (
            request.headers["x-statewave-timestamp"],
            request.headers["x-statewave-event-id"],
            request.headers.get("x-statewave-signature"),
        )
        assert verify(SECRET, ts, event_id, request.body, signature), request.headers
        assert readme_verify(SECRET, request.headers, request.body)
        assert not verify("wrong-secret", ts, event_id, request.body, signature)
        replayed = {**request.headers, "x-statewave-event-id": str(uuid.uuid4())}
        assert not readme_verify(SECRET, replayed, request.body)
        assert not verify(SECRET, ts, replayed["x-statewave-event-id"], request.body, signature)


async def test_receiver_down_then_failing_then_up_delivers_each_event_once(db: Database) -> None:
    with running_receiver(started=False) as receiver:
        ids = await add_events(db, 12, tenants=("acme", "globex", ""))
        dispatcher = Dispatcher(db, hook_settings(receiver.url))

        async def everything_failed_twice() -> bool:
            return all(row.attempts >= 2 for row in await rows(db))

        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            await wait_until(everything_failed_twice, within=20)
            down = await rows(db)
            assert {r.status for r in down} <= {outbox.PENDING, outbox.DELIVERING}
            assert all(r.last_error and r.http_status is None for r in down if r.attempts)
            receiver.fail_first(5, status=503)
            receiver.start()
            await wait_until(settled(db), within=20)
        finally:
            stop.set()
            await task

    assert_exactly_once(receiver, ids)
    assert len([r for r in receiver.requests if r.status == 503]) == 5
    assert_signed(receiver.requests)
    by_id = {str(r.id): r for r in await rows(db)}
    for request in receiver.accepted():
        body, row = request.json(), by_id[request.event_id]
        assert body == row.payload and body["tenant_id"] == row.tenant_id
        assert "tenant_id" in body and body["event"] == request.headers["x-statewave-event"]
        assert request.headers["content-type"] == "application/json"
        assert int(request.headers["x-statewave-delivery-attempt"]) == row.attempts
        assert row.http_status == 200 and row.delivered_at is not None
        assert row.last_error is None and row.attempts >= 3
    assert {r.json()["tenant_id"] for r in receiver.accepted()} == {"acme", "globex", ""}


async def test_permanent_500_dead_letters_then_cli_redrive_delivers(
    db: Database, receiver: Receiver, head_db_url: str
) -> None:
    receiver.always(500)
    [event_id] = await add_events(db, 1, max_attempts=3)
    settings = hook_settings(receiver.url)
    await run_until([Dispatcher(db, settings)], settled(db, outbox.DEAD_LETTER))

    [row] = await rows(db)
    assert row.attempts == 3 and row.http_status == 500
    assert row.last_error is not None and row.last_error.startswith("HTTP 500:")
    assert [r.event_id for r in receiver.requests] == [event_id] * 3

    receiver.always(200)
    env = {"STATEWAVE_WEBHOOK_URL": receiver.url}
    done = await asyncio.to_thread(
        run_cli,
        ["statewave_server", "webhooks", "redrive", "--all-dead", "--json"],
        head_db_url,
        extra_env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "redriven": 1,
        "event_ids": [event_id],
        "not_redriven": [],
    }
    [row] = await rows(db)
    assert (row.status, row.attempts) == (outbox.PENDING, 0)

    await run_until([Dispatcher(db, settings)], settled(db))
    assert_exactly_once(receiver, [event_id])
    [row] = await rows(db)
    assert row.attempts == 1 and row.http_status == 200


async def test_404_dead_letters_at_once_and_429_is_retried(
    db: Database, receiver: Receiver
) -> None:
    receiver.always(404)
    await add_events(db, 1)
    settings = hook_settings(receiver.url)
    await run_until([Dispatcher(db, settings)], settled(db, outbox.DEAD_LETTER))
    [row] = await rows(db)
    assert (row.attempts, row.http_status) == (1, 404)
    assert len(receiver.requests) == 1 and row.last_error is not None

    receiver.always(200)
    receiver.fail_first(2, status=429)
    async with db.primary() as session, session.begin():
        await outbox.record_event(session, "t", "memories.compiled", {"subject_id": "s"})
    await run_until([Dispatcher(db, settings)], lambda: _status_of(db, "memories.compiled"))
    limited = [
        r for r in receiver.requests if r.headers["x-statewave-event"] == "memories.compiled"
    ]
    assert [r.status for r in limited] == [429, 429, 200]
    assert len({r.event_id for r in limited}) == 1


async def _status_of(db: Database, event: str) -> bool:
    return any(r.event == event and r.status == outbox.DELIVERED for r in await rows(db))


async def test_two_dispatchers_never_deliver_one_event_twice(
    db: Database, receiver: Receiver, head_db_url: str
) -> None:
    ids = await add_events(db, 50)
    settings = hook_settings(receiver.url, webhook_batch_size=4)
    engines = [create_async_engine(head_db_url, pool_size=10) for _ in range(2)]
    try:
        dispatchers = [Dispatcher(database_for(e), settings) for e in engines]
        await run_until(dispatchers, settled(db), within=30)
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(receiver.requests) == 50
    assert_exactly_once(receiver, ids)
    assert all(r.attempts == 1 for r in await rows(db))


async def test_crashed_dispatcher_claim_is_reclaimed_after_the_lease(
    db: Database, receiver: Receiver
) -> None:
    ids = await add_events(db, 3)
    async with db.primary() as session, session.begin():
        stale = await outbox.claim_due(session, limit=10, lease_seconds=0.5)
    assert {str(e.id) for e in stale} == set(ids)  # ... and this "dispatcher" dies here

    settings = hook_settings(receiver.url, webhook_claim_lease_seconds=0.5)
    dispatcher = Dispatcher(db, settings)
    assert await dispatcher.run_once() == 0  # lease still valid: nobody else may take them
    await run_until([dispatcher], settled(db))
    assert_exactly_once(receiver, ids)
    assert all(r.attempts == 2 for r in await rows(db))

    # The dead dispatcher waking up cannot record anything over the new owner's outcome.
    async with db.primary() as session, session.begin():
        event = stale[0]
        assert event.claimed_at is not None
        assert not await outbox.mark_delivered(session, event.id, event.claimed_at, 200)
        lost = await outbox.mark_failed(
            session,
            event.id,
            event.claimed_at,
            error="late",
            http_status=None,
            retry_delay_seconds=0,
        )
        assert lost is None
    assert all(r.status == outbox.DELIVERED and r.last_error is None for r in await rows(db))


async def test_unsigned_without_secret_and_in_process_worker_delivers(
    db: Database, receiver: Receiver
) -> None:
    [event_id] = await add_events(db, 1)
    settings = hook_settings(receiver.url, webhook_secret=None, job_poll_interval_seconds=0.05)
    async with in_process_worker(db, settings, handlers={}):
        await wait_until(settled(db), within=20)
    [request] = receiver.requests
    assert request.event_id == event_id and "x-statewave-signature" not in request.headers
    assert int(request.headers["x-statewave-timestamp"]) > 0


async def test_redrive_only_touches_dead_letters(db: Database) -> None:
    ids = await add_events(db, 3)
    async with db.primary() as session, session.begin():
        await session.execute(
            WebhookEvent.__table__.update()
            .where(WebhookEvent.id == uuid.UUID(ids[0]))
            .values(status=outbox.DEAD_LETTER, attempts=5)
        )
        done = await outbox.redrive(session, event_ids=[uuid.UUID(i) for i in ids])
        counts = await outbox.stats(session)
    assert [str(i) for i in done] == [ids[0]]
    assert counts == {"pending": 3, "delivering": 0, "delivered": 0, "dead_letter": 0, "total": 3}


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = Backoff(base_seconds=2, max_seconds=60, jitter=(0.5, 1.5))
    assert [policy.nominal(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert policy.delay(3, lambda lo, hi: lo) == 4 and policy.delay(3, lambda lo, hi: hi) == 12
    samples = [policy.delay(4) for _ in range(2000)]
    assert all(8 <= s <= 24 for s in samples)
    assert max(samples) - min(samples) > 10  # really jittered, not constant
    assert all(30 <= policy.delay(20) <= 90 for _ in range(200))


def test_classify_retries_408_429_5xx_and_dead_letters_other_4xx() -> None:
    assert classify(204, "").delivered
    for status in (408, 429, 500, 502, 503, 302):
        outcome = classify(status, "x" * 500)
        assert not outcome.delivered and not outcome.permanent, status
        assert outcome.error == f"HTTP {status}: " + "x" * 200
    for status in (400, 401, 404, 410, 422):
        assert classify(status, "").permanent, status


def test_signature_scheme_covers_timestamp_event_id_and_body() -> None:
    body = b'{"event":"episode.created"}'
    ev = "0b7c1f5e-8f0a-4c1e-9a53-6f1d2e3c4b5a"
    message = b"1700000000." + ev.encode() + b"." + body
    expected = "sha256=" + hmac.new(b"k", message, hashlib.sha256).hexdigest()
    assert sign("k", 1700000000, ev, body) == expected
    assert verify("k", "1700000000", ev, body, expected, now=1700000100)
    assert not verify("k", "1700000000", ev, body, expected, now=1700009999)  # stale
    assert verify("k", "1700000000", ev, body, expected, tolerance_seconds=None)
    assert not verify("k", "1700000000", ev, body + b" ", expected, tolerance_seconds=None)
    other = str(uuid.uuid4())  # a replay under a fresh event id
    assert not verify("k", "1700000000", other, body, expected, tolerance_seconds=None)
    assert not verify("k", "nope", ev, body, expected) and not verify("k", "1", ev, body, None)
    for odd in ("+1700000000", "1700_000000", " 1700000000"):
        assert not verify("k", odd, ev, body, expected, now=1700000000)


async def test_cli_list_and_usage_errors(db: Database, head_db_url: str) -> None:
    await add_events(db, 2, tenants=("acme",))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["statewave_server", "webhooks", *args], head_db_url)

    listed = await asyncio.to_thread(cli, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert report["total"] == 2 and {e["tenant_id"] for e in report["events"]} == {"acme"}
    only_dead = json.loads(
        (await asyncio.to_thread(cli, "list", "--status", "dead_letter", "--json")).stdout
    )
    assert only_dead["events"] == []
    assert (await asyncio.to_thread(cli, "list", "--status", "bogus")).returncode == 2
    assert (await asyncio.to_thread(cli, "redrive")).returncode == 2
    both = await asyncio.to_thread(cli, "redrive", "--all-dead", "--event-id", str(uuid.uuid4()))
    assert both.returncode == 2
    assert (await asyncio.to_thread(cli, "redrive", "--event-id", "not-a-uuid")).returncode == 2


@pytest.mark.slow
async def test_statewave_worker_process_delivers_and_stops_cleanly(
    db: Database, receiver: Receiver, head_db_url: str, tmp_path: Path
) -> None:
    [event_id] = await add_events(db, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.update(
        STATEWAVE_DATABASE_URL=head_db_url,
        STATEWAVE_WEBHOOK_URL=receiver.url,
        STATEWAVE_WEBHOOK_SECRET=SECRET,
        STATEWAVE_WEBHOOK_POLL_INTERVAL_SECONDS="0.05",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
    )
    log = tmp_path / "worker.log"
    with worker_subprocess(env, log) as proc:
        await wait_until(settled(db), within=60)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0, log.read_text()
    assert_exactly_once(receiver, [event_id])
    assert_signed(receiver.requests)
    events = {
        json.loads(line)["event"] for line in log.read_text().splitlines() if line.startswith("{")
    }
    assert {"webhook_dispatcher_started", "webhook_delivered", "worker_stopped"} <= events


def _gzip_bomb(megabytes: int) -> bytes:
    """``megabytes`` MB of ``A`` gzip-compressed, built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    chunk = b"A" * 1_000_000
    parts = [packer.compress(chunk) for _ in range(megabytes)]
    return b"".join([*parts, packer.flush()])


async def test_a_gzip_bomb_reply_is_never_decompressed(db: Database, receiver: Receiver) -> None:
    bomb = _gzip_bomb(300)  # 300 MB inflated, a few hundred KB on the wire
    assert len(bomb) < 1_000_000
    receiver.reply_with(bomb, {"Content-Encoding": "gzip"})
    receiver.always(500)
    await add_events(db, 1, max_attempts=1)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    await Dispatcher(db, hook_settings(receiver.url)).run_once()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    [row] = await rows(db)
    assert (row.status, row.last_error) == (
        outbox.DEAD_LETTER,
        "HTTP 500: [gzip-encoded reply not read]",
    )
    assert grown_mib < 100, f"peak RSS grew by {grown_mib:.0f} MiB"


async def test_a_large_plain_reply_is_read_only_up_to_the_cap(
    db: Database, receiver: Receiver
) -> None:
    receiver.reply_with(b"B" * 20_000_000, {})
    receiver.always(503)
    await add_events(db, 1, max_attempts=1)
    await Dispatcher(db, hook_settings(receiver.url)).run_once()
    [row] = await rows(db)
    assert row.last_error == "HTTP 503: " + "B" * 200


@pytest.mark.parametrize(
    ("address", "default", "private_allowed", "loopback_refused"),
    [
        ("127.0.0.1", True, True, False),
        ("::1", True, True, False),
        ("169.254.169.254", False, False, False),  # cloud metadata
        ("::ffff:169.254.169.254", False, False, False),
        ("fe80::1", False, False, False),
        ("10.0.0.5", False, True, False),
        ("172.16.3.4", False, True, False),
        ("192.168.1.1", False, True, False),
        ("100.64.0.1", False, True, False),
        ("fd00:ec2::254", False, True, False),
        ("0.0.0.0", False, False, False),
        ("224.0.0.1", False, False, False),
        ("93.184.216.34", True, True, True),
        ("2606:4700:4700::1111", True, True, True),
    ],
)
def test_destination_policy(
    address: str, default: bool, private_allowed: bool, loopback_refused: bool
) -> None:
    ip = ipaddress.ip_address(address)
    assert (DestinationPolicy().refusal(ip) is None) == default
    assert (DestinationPolicy(allow_private=True).refusal(ip) is None) == private_allowed
    assert (DestinationPolicy(allow_loopback=False).refusal(ip) is None) == loopback_refused


async def test_a_metadata_destination_is_dead_lettered_without_a_request(db: Database) -> None:
    await add_events(db, 1)
    url = "http://169.254.169.254/latest/meta-data/"
    await Dispatcher(db, hook_settings(url, webhook_timeout_seconds=30.0)).run_once()
    [row] = await rows(db)
    assert (row.status, row.attempts, row.http_status) == (outbox.DEAD_LETTER, 1, None)
    assert row.last_error is not None
    assert row.last_error.startswith("destination refused: 169.254.169.254 resolves to")


async def test_loopback_can_be_refused_and_names_are_pinned_to_the_checked_address(
    db: Database, receiver: Receiver
) -> None:
    await add_events(db, 1)
    refused = hook_settings(receiver.url, webhook_allow_loopback=False)
    await Dispatcher(db, refused).run_once()
    [row] = await rows(db)
    assert row.status == outbox.DEAD_LETTER and "loopback" in (row.last_error or "")
    assert receiver.requests == []

    by_name = receiver.url.replace("127.0.0.1", "localhost")
    ids = await add_events(db, 1)
    await Dispatcher(db, hook_settings(by_name)).run_once()
    [request] = receiver.requests
    assert request.event_id in ids
    assert request.headers["host"] == f"localhost:{receiver.port}"
    assert_signed([request])
