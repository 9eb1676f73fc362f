"""Bad arguments come back as clean tool errors naming the field; nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.server import RunningServer
from tests.mcp_tools.conftest import Connect, error, ok

pytestmark = pytest.mark.slow


def episode(subject: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "subject_id": subject,
        "source": "user",
        "type": "message",
        "payload": {"text": "hello"},
    }
    return base | overrides


def cases(subject: str) -> list[tuple[str, dict[str, Any], str, str]]:
    """(tool, arguments, field, pydantic error type) per kind of mistake."""
    return [
        ("record_episode", {"source": "user", "type": "m", "payload": {}}, "subject_id", "missing"),
        ("record_episode", episode(subject, sesion_id="s"), "sesion_id", "extra_forbidden"),
        (
            "record_episode",
            episode(subject, occurred_at="2025-01-01T10:00:00"),
            "occurred_at",
            "timezone_aware",
        ),
        ("record_episode", episode(subject, payload="hi"), "payload", "dict_type"),
        ("record_episode", episode("a\x00b"), "subject_id", "string_pattern_mismatch"),
        ("record_episodes", {"episodes": []}, "episodes", "too_short"),
        ("record_episodes", {"episodes": [episode(subject)] * 101}, "episodes", "too_long"),
        (
            "record_episodes",
            {"episodes": [episode(subject, type="")]},
            "episodes.0.type",
            "string_too_short",
        ),
        ("get_context", {"subject_id": subject}, "task", "missing"),
        ("get_context", {"subject_id": subject, "task": "x" * 4001}, "task", "string_too_long"),
        (
            "get_context",
            {"subject_id": subject, "task": "t", "max_tokens": 8001},
            "max_tokens",
            "less_than_equal",
        ),
        ("search_memories", {"subject_id": subject, "limit": "many"}, "limit", "int_parsing"),
        ("search_memories", {"subject_id": subject, "limit": 21}, "limit", "less_than_equal"),
        ("search_memories", {"subject_id": subject, "kind": "secrets"}, "kind", "literal_error"),
        ("get_timeline", {"subject_id": subject, "offset": -1}, "offset", "greater_than_equal"),
        (
            "record_resolution",
            {"subject_id": subject, "session_id": "s", "status": "done"},
            "status",
            "literal_error",
        ),
        ("create_handoff", {"subject_id": subject}, "session_id", "missing"),
        ("compile_memories", {"subject_id": ""}, "subject_id", "string_too_short"),
        ("delete_subject", {}, "subject_id", "missing"),
    ]


async def test_each_mistake_is_a_validation_error_naming_the_field(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        for tool, arguments, field, kind in cases(subject):
            failure = error(await session.call_tool(tool, arguments))
            assert failure["code"] == "validation_error", (tool, arguments)
            assert failure["message"].startswith(f"Invalid arguments for {tool}: ")
            fields = {d["field"]: d["type"] for d in failure["details"]}
            assert field in fields, (tool, failure)
            assert kind in fields[field], (tool, failure)
            assert failure["request_id"]
        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
    assert timeline["episodes"] == [], "a rejected call stored something"


async def test_rejected_values_are_not_echoed_back(
    mcp_server: RunningServer, connect: Connect, tenant: str, subject: str
) -> None:
    secret = "s3cr3t-" * 1000
    async with connect(mcp_server.base_url, tenant=tenant) as session:
        failure = error(
            await session.call_tool("get_context", {"subject_id": subject, "task": secret})
        )
    assert "s3cr3t" not in str(failure)
    assert len(str(failure)) < 1000
