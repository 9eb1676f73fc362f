"""Migration status: the window rule (pure) and what a real database reports."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import PgServer
from statewave_server.db.migration_audit import MIGRATION_LOCK_KEY
from statewave_server.ops.matrix import load_chain, row_for
from statewave_server.ops.migrations import (
    UP_TO_DATE,
    check_migration_status,
    evaluate,
    migration_report,
)
from tests.fixtures.runbook import HEAD, STATUS_KEYS
from tests.ops import database_at, no_server_url


def _evaluate(current: str | None, app_version: str = "0.6.1"):  # type: ignore[no-untyped-def]
    return evaluate(current, chain=load_chain(), row=row_for(app_version))


def test_at_head_is_up_to_date() -> None:
    status = _evaluate(HEAD)
    assert status.is_compatible and status.pending_count == 0
    assert status.summary == UP_TO_DATE and status.error is None


def test_window_of_0_6_0_accepts_0010_but_0_6_1_does_not() -> None:
    old = _evaluate("0010_add_session_id", "0.6.0")
    assert old.is_compatible
    assert old.pending_revisions == ["0011_add_resolutions_table", HEAD]
    new = _evaluate("0010_add_session_id")
    assert not new.is_compatible
    assert new.summary == f"2 pending migration(s): 0010_add_session_id → {HEAD}"
    assert _evaluate("0009_add_rate_limit_table", "0.6.0").is_compatible is False


def test_fresh_database_has_everything_pending() -> None:
    status = _evaluate(None)
    assert status.current_revision is None and not status.is_compatible
    assert status.pending_count == 12 and status.pending_revisions[0] == "0001_initial_schema"
    assert status.error is None


def test_known_revision_ahead_names_the_release_that_must_downgrade_it() -> None:
    status = _evaluate("0011_add_resolutions_table", "0.5.0")
    assert not status.is_compatible and status.pending_count is None  # not known
    assert status.error is not None
    assert "Statewave 0.6.0" in status.error
    assert "alembic downgrade 0009_add_rate_limit_table" in status.error
    assert status.summary == f"ERROR: {status.error}"


def test_unknown_revision_is_an_error() -> None:
    status = _evaluate("0099_from_the_future")
    assert status.error is not None and "unknown to Statewave 0.6.1" in status.error
    assert status.current_revision == "0099_from_the_future"
    assert status.expected_head == HEAD


async def test_real_database_behind_and_at_head(pg: PgServer, head_db_url: str) -> None:
    behind = await check_migration_status(database_at(pg, "0010_add_session_id"))
    assert behind.current_revision == "0010_add_session_id"
    assert behind.pending_revisions == ["0011_add_resolutions_table", HEAD]
    at_head = await check_migration_status(head_db_url)
    assert at_head.summary == UP_TO_DATE and at_head.is_compatible


async def test_fresh_database(empty_db_url: str) -> None:
    status = await check_migration_status(empty_db_url)
    assert status.current_revision is None and status.pending_count == 12


async def test_unreachable_database_answers_fast_with_an_error(tmp_path: Path) -> None:
    started = time.monotonic()
    status = await check_migration_status(no_server_url(tmp_path), timeout_seconds=3)
    assert time.monotonic() - started < 3.5
    assert status.error is not None and status.error.startswith("Database unreachable")
    assert status.model_dump().keys() == set(STATUS_KEYS) and not status.is_compatible


async def test_verbose_report_has_history_matrix_lock_and_drift(head_db_url: str) -> None:
    body = await migration_report(head_db_url, verbose=True)
    assert body.keys() >= set(STATUS_KEYS)
    assert body["matrix"] == {
        "app_version": "0.6.1",
        "expected_head": HEAD,
        "min_compatible": HEAD,
    }
    upgraded = [e["revision"] for e in body["history"] if e["direction"] == "upgrade"]
    assert upgraded[-1] == HEAD and len(upgraded) >= 12
    assert body["lock_holder"] is None and body["checksum_drift"] == []


async def test_lock_holder_is_found_from_split_bigint_key(head_db_url: str) -> None:
    engine = create_async_engine(head_db_url)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            pid = await holder.scalar(text("SELECT pg_backend_pid()"))
            body = await migration_report(head_db_url, verbose=True)
            await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
    finally:
        await engine.dispose()
    assert body["lock_holder"]["pid"] == pid


@pytest.mark.parametrize("revision", ["0003_add_embedding_index"])
async def test_tampered_audit_checksum_is_drift(
    pg: PgServer, head_db_url: str, revision: str
) -> None:
    pg.psql_in(
        pg.database_name(head_db_url),
        "UPDATE statewave_migration_audit SET checksum = repeat('0', 64) "
        f"WHERE revision = '{revision}' AND direction = 'upgrade'",
    )
    body = await migration_report(head_db_url, verbose=True)
    assert [d["revision"] for d in body["checksum_drift"]] == [revision]
    assert body["checksum_drift"][0]["recorded_checksum"] == "0" * 64
