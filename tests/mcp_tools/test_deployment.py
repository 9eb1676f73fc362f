"""Deployment settings reach ``/mcp``: deletion off by default, body and rate limits, and a
stdio relay whose server is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPError

from devtools.postgres import PgServer
from devtools.server import RunningServer, free_port
from tests.mcp_tools.conftest import (
    API_KEY,
    error,
    http_session,
    live_server,
    mcp_refusal,
    ok,
    stdio_session,
)

pytestmark = pytest.mark.slow

MAX_BODY = 64 * 1024
RATE_LIMIT_RPM = 10


@pytest.fixture(scope="module")
def plain_server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """No ``STATEWAVE_MCP_ALLOW_DELETE``, a small body limit and a rate limit per client
    address (loopback is a trusted proxy, so each test picks its address)."""
    with live_server(
        pg,
        migrated_template,
        tmp_path_factory,
        "mcpplain",
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_MAX_BODY_BYTES=str(MAX_BODY),
        STATEWAVE_RATE_LIMIT_RPM=str(RATE_LIMIT_RPM),
        STATEWAVE_TRUSTED_PROXIES='["127.0.0.1/32"]',
    ) as server:
        yield server


def client_at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def note(subject: str, text: str) -> dict[str, object]:
    return {"subject_id": subject, "source": "user", "type": "note", "payload": {"text": text}}


async def test_delete_subject_is_not_offered_unless_configured(
    plain_server: RunningServer, subject: str
) -> None:
    async with http_session(
        plain_server.base_url, extra_headers=client_at("198.51.100.1")
    ) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        ok(await session.call_tool("record_episode", note(subject, "keep me")))
        refused = error(await session.call_tool("delete_subject", {"subject_id": subject}))
        timeline = ok(await session.call_tool("get_timeline", {"subject_id": subject}))
    assert "delete_subject" not in names and "record_episode" in names
    assert refused["code"] == "unknown_tool"
    assert len(timeline["episodes"]) == 1


async def test_a_body_over_the_limit_is_refused_with_payload_too_large(
    plain_server: RunningServer, subject: str
) -> None:
    address = client_at("198.51.100.2")
    with pytest.raises(Exception) as refused:
        async with http_session(plain_server.base_url, extra_headers=address) as session:
            await session.call_tool("record_episode", note(subject, "x" * (2 * MAX_BODY)))
    refusal = mcp_refusal(refused.value)
    assert refusal.data["code"] == "payload_too_large"
    assert str(MAX_BODY) in refusal.message
    async with http_session(plain_server.base_url, extra_headers=address) as s:
        assert ok(await s.call_tool("get_timeline", {"subject_id": subject}))["episodes"] == []


async def test_the_rate_limit_refuses_a_client_over_it_and_no_one_else(
    plain_server: RunningServer, subject: str
) -> None:
    busy, calm = client_at("198.51.100.3"), client_at("198.51.100.4")
    answered: list[dict[str, object]] = []
    with pytest.raises(Exception) as refused:
        async with http_session(plain_server.base_url, extra_headers=busy) as s:
            while len(answered) < RATE_LIMIT_RPM:
                answered.append(ok(await s.call_tool("get_timeline", {"subject_id": subject})))
    refusal = mcp_refusal(refused.value)
    assert refusal.data["code"] == "rate_limited"
    assert len(answered) < RATE_LIMIT_RPM  # initialize and the first listing count too
    async with http_session(plain_server.base_url, extra_headers=calm) as s:
        ok(await s.call_tool("get_timeline", {"subject_id": subject}))


async def test_stdio_relay_reports_an_unreachable_server_as_tool_errors() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with stdio_session(nowhere, api_key=None) as session:
        with pytest.raises(MCPError) as listing:
            await session.list_tools()
        failure = error(await session.call_tool("get_timeline", {"subject_id": "s"}))
    assert "server_unreachable" in listing.value.message
    assert failure["code"] == "server_unreachable"
    assert nowhere in failure["message"]


async def test_each_relayed_call_is_one_request_against_the_rate_limit(
    plain_server: RunningServer, subject: str
) -> None:
    # The relay sends no X-Forwarded-For: it is counted as 127.0.0.1, which no other test
    # of this module uses.
    async with stdio_session(plain_server.base_url) as session:
        await session.list_tools()
        for _ in range(RATE_LIMIT_RPM - 1):
            ok(await session.call_tool("get_timeline", {"subject_id": subject}))
        refused = error(await session.call_tool("get_timeline", {"subject_id": subject}))
    assert refused["code"] == "rate_limited"
