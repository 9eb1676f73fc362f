"""Startup schema guard: warn with the fix, refuse in strict mode (also when unreachable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.postgres import PgServer
from statewave_server.ops.guard import FIX, check_schema, judge
from statewave_server.ops.matrix import load_chain, row_for
from statewave_server.ops.migrations import evaluate, failed
from tests.ops import database_at, no_server_url, settings_for


def test_rule_inside_window_passes_outside_warns_or_refuses() -> None:
    chain = load_chain()
    at_0010 = "0010_add_session_id"
    inside = evaluate(at_0010, chain=chain, row=row_for("0.6.0"))
    assert judge(inside, strict=True).ok
    outside = evaluate(at_0010, chain=chain, row=row_for("0.6.1"))
    warned = judge(outside, strict=False)
    assert not warned.ok and not warned.refuse
    assert warned.message is not None
    assert warned.message.startswith("Schema mismatch: 2 pending migration(s)")
    assert FIX in warned.message
    refused = judge(outside, strict=True)
    assert refused.refuse and refused.message is not None
    assert refused.message.startswith("Refusing to start (STATEWAVE_STRICT_SCHEMA=1).")


def test_unreachable_is_a_refusal_only_in_strict_mode() -> None:
    down = failed("Database unreachable: connection refused", expected_head="x")
    assert judge(down, strict=True).refuse
    lenient = judge(down, strict=False)
    assert not lenient.ok and not lenient.refuse
    assert lenient.message is not None and "Schema check failed" in lenient.message


async def test_real_databases(pg: PgServer, head_db_url: str, tmp_path: Path) -> None:
    assert (await check_schema(settings_for(head_db_url), head_db_url)).ok
    behind = database_at(pg, "0010_add_session_id")
    lenient = await check_schema(settings_for(behind), behind)
    assert not lenient.ok and not lenient.refuse
    strict = await check_schema(settings_for(behind, strict_schema=True), behind)
    assert strict.refuse
    nowhere = no_server_url(tmp_path)
    assert (await check_schema(settings_for(nowhere, strict_schema=True), nowhere)).refuse
    assert not (await check_schema(settings_for(nowhere), nowhere)).refuse


def test_strict_flag_reads_1_and_true(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("1", "true"):
        monkeypatch.setenv("STATEWAVE_STRICT_SCHEMA", value)
        assert settings_for("postgresql://x/y").strict_schema is True


def test_newer_database_is_not_told_to_upgrade() -> None:
    newer = evaluate("0099_from_the_future", chain=load_chain(), row=row_for("0.6.1"))
    message = judge(newer, strict=False).message
    assert message is not None and message.startswith("Schema mismatch: Database revision")
    assert "alembic downgrade 0012_add_health_cache" in message
    assert "alembic upgrade head" not in message
