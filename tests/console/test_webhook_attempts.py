"""The webhook attempt log: every HTTP attempt recorded by the dispatcher (a real receiver
on loopback), shown by the admin API, the console and the CLI, purged with its event,
tolerated when its table is missing, and created by ``alembic upgrade head``."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import PgServer, alembic, run_cli
from devtools.receiver import Receiver, running_receiver
from statewave_server.db import outbox, webhook_attempts
from statewave_server.db.engine import Database
from statewave_server.db.subjects import delete_subject
from statewave_server.db.webhook_attempts import ATTEMPTS_TABLE
from statewave_server.worker import dispatcher as dispatcher_module
from statewave_server.worker.dispatcher import Dispatcher
from tests.console.conftest import ConsoleServer, console_on_fresh_database
from tests.fixtures.factories import database_for, new_id, wait_until
from tests.fixtures.logs import logged
from tests.worker.test_webhooks import hook_settings


@pytest.fixture(scope="module")
def server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    log_dir = tmp_path_factory.mktemp("webhook-attempts")
    with console_on_fresh_database(pg, migrated_template, log_dir) as running:
        yield running


@pytest.fixture
async def db(server: ConsoleServer) -> AsyncIterator[Database]:
    engine = create_async_engine(server.pg.url(server.database))
    yield database_for(engine)
    await engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def newest_event(db: Database) -> str:
    async with db.primary() as session:
        page = await outbox.list_events(session, limit=1)
    return str(page.events[0].id)


async def attempt_once(dispatcher: Dispatcher) -> None:
    """Wait until the event is due again (backoff), then make exactly one attempt."""

    async def tried() -> bool:
        return await dispatcher.run_once() == 1

    await wait_until(tried, within=20)


def cli(db_url: str, *args: str) -> dict[str, object] | str:
    done = run_cli(["statewave_server", "webhooks", *args], db_url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


async def test_every_attempt_is_logged_and_shown(
    server: ConsoleServer, db: Database, receiver: Receiver
) -> None:
    async with db.primary() as session, session.begin():
        await outbox.record_event(session, "", "episode.created", {"subject_id": new_id("s")})
    event_id = await newest_event(db)
    dispatcher = Dispatcher(db, hook_settings(receiver.url))

    receiver.fail_first(1, status=500)
    await attempt_once(dispatcher)  # 1: HTTP 500
    receiver.stop()
    await attempt_once(dispatcher)  # 2: connection refused
    receiver.start()
    await attempt_once(dispatcher)  # 3: delivered

    with server.api() as api:
        detail = api.get(f"/admin/webhooks/{event_id}").json()
    assert detail["status"] == "delivered" and detail["attempts"] == 3
    assert detail["http_status"] == 200 and detail["last_error"] is None
    log = detail["attempt_log"]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert [a["http_status"] for a in log] == [500, None, 200]
    assert log[0]["error"] == 'HTTP 500: {"error": "nope"}'
    assert log[0]["response_snippet"] == '{"error": "nope"}'
    receiver_at = f"127.0.0.1:{httpx.URL(receiver.url).port}"  # names the receiver that failed
    assert log[1]["error"].startswith(f"ConnectError ({receiver_at}): ")
    assert log[1]["response_snippet"] is None
    assert log[2]["error"] is None and log[2]["response_snippet"] == '{"ok": true}'
    assert all(a["duration_ms"] >= 0 for a in log)
    assert log[0]["attempted_at"] <= log[1]["attempted_at"] <= log[2]["attempted_at"]

    with server.console() as console:
        page = console.get(f"/console/webhooks/{event_id}").text
    table = page.split('<table id="attempt-log">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\d)</td>", table)
    assert rows == ["1", "2", "3"]
    assert "HTTP 500: {&#34;error&#34;: &#34;nope&#34;}" in table
    assert "ConnectError" in table and "{&#34;ok&#34;: true}" in table
    assert "Only the last attempt" not in page

    db_url = server.pg.url(server.database)
    shown = await asyncio.to_thread(cli, db_url, "show", event_id[:8], "--json")
    assert isinstance(shown, dict) and shown["attempt_log"] == log
    text = await asyncio.to_thread(cli, db_url, "show", event_id[:8])
    assert isinstance(text, str) and "Attempts (3)" in text and "ConnectError" in text

    purged = run_cli(
        ["statewave_server", "webhooks", "purge", "--status", "delivered", "--yes"], db_url
    )
    assert purged.returncode == 0, purged.stderr
    left = server.sql(f"SELECT count(*) FROM {ATTEMPTS_TABLE} WHERE event_id = '{event_id}'")
    assert left == "0"


async def test_a_missing_table_never_stops_delivery_and_upgrade_creates_it(
    server: ConsoleServer, db: Database, receiver: Receiver
) -> None:
    server.sql(f"DROP TABLE {ATTEMPTS_TABLE}")
    try:
        async with db.primary() as session, session.begin():
            for _ in range(2):
                await outbox.record_event(session, "", "episode.created", {"n": 1})
        dispatcher = Dispatcher(db, hook_settings(receiver.url, webhook_batch_size=1))
        with logged(dispatcher_module) as logs:
            await attempt_once(dispatcher)
            await attempt_once(dispatcher)
        assert len(receiver.accepted()) == 2
        missing = [e for e in logs if e["event"] == "webhook_attempts_table_missing"]
        assert len(missing) == 1 and missing[0]["log_level"] == "warning"
        assert "alembic upgrade head" in missing[0]["fix"]
        assert [e["event"] for e in logs].count("webhook_delivered") == 2
        event_id = await newest_event(db)
        with server.api() as api:
            detail = api.get(f"/admin/webhooks/{event_id}").json()
        assert detail["status"] == "delivered" and detail["attempt_log"] is None
        with server.console() as console:
            page = console.get(f"/console/webhooks/{event_id}").text
        assert 'id="attempt-log-missing"' in page and "alembic upgrade head" in page
    finally:
        done = alembic("upgrade", "head", database_url=server.pg.url(server.database))
        assert done.returncode == 0, done.stderr
    assert server.sql(f"SELECT to_regclass('{ATTEMPTS_TABLE}') IS NOT NULL") == "t"
    with server.api() as api:
        assert api.get(f"/admin/webhooks/{event_id}").json()["attempt_log"] == []


def test_downgrades_work_with_the_table_present(pg: PgServer, migrated_template: str) -> None:
    url = pg.create_database("attempts", template=migrated_template)
    name = pg.database_name(url)
    pg.psql_in(
        name,
        f"INSERT INTO {ATTEMPTS_TABLE} (event_id, tenant_id, attempt, duration_ms) "
        "VALUES (gen_random_uuid(), '', 1, 5)",
    )
    assert alembic("downgrade", "0011", database_url=url).returncode == 0
    assert alembic("downgrade", "base", database_url=url).returncode == 0
    tables = pg.psql_in(name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert ATTEMPTS_TABLE in tables.split() and "webhook_events" not in tables.split()
    assert alembic("upgrade", "head", database_url=url).returncode == 0


async def test_deleting_a_subject_deletes_its_events_attempts(
    server: ConsoleServer, db: Database
) -> None:
    subject = new_id("gone")
    async with db.primary() as session, session.begin():
        await outbox.record_event(session, "", "episode.created", {"subject_id": subject})
    event_id = await newest_event(db)
    async with db.primary() as session, session.begin():
        await webhook_attempts.record(
            session,
            event_id=uuid.UUID(event_id),
            tenant_id="",
            attempt=1,
            http_status=503,
            duration_ms=3,
            error="HTTP 503: " + "x" * 900,
            response_snippet="y" * 900,
        )
    counted = (
        "SELECT count(*), max(length(error)), max(length(response_snippet)) "
        f"FROM {ATTEMPTS_TABLE} WHERE event_id = '{event_id}'"
    )
    assert server.sql(counted) == "1|500|300"
    async with db.primary() as session, session.begin():
        await delete_subject(session, tenant_id="", subject_id=subject)
    assert server.sql(counted) == "0||"


async def test_a_failing_log_write_loses_only_that_row(
    server: ConsoleServer, db: Database, receiver: Receiver
) -> None:
    refuse = f"ALTER TABLE {ATTEMPTS_TABLE} ADD CONSTRAINT refuse_all CHECK (attempt < 0) NOT VALID"
    server.sql(refuse)
    try:
        async with db.primary() as session, session.begin():
            await outbox.record_event(session, "", "episode.created", {"n": 2})
        event_id = await newest_event(db)
        with logged(dispatcher_module) as logs:
            await attempt_once(Dispatcher(db, hook_settings(receiver.url)))
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "webhook_attempt_not_logged"
        ]
        assert server.sql(f"SELECT status FROM webhook_events WHERE id = '{event_id}'") == (
            "delivered"
        )
    finally:
        server.sql(f"ALTER TABLE {ATTEMPTS_TABLE} DROP CONSTRAINT refuse_all")
