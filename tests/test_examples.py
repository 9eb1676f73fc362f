"""The examples run as real programs against a live server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import REPO_ROOT
from tests.support.server import clean_env, free_port, running_server, uvicorn_command

pytestmark = pytest.mark.slow

API_KEY = "example-key-42"


def test_support_agent_example_prints_the_customers_context(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    server_env = clean_env(
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
    )
    with running_server(uvicorn_command(port), server_env, tmp_path / "server.log", port) as srv:
        example_env = clean_env(
            STATEWAVE_URL=srv.base_url,
            STATEWAVE_API_KEY=API_KEY,
            STATEWAVE_TENANT_ID="example-tenant",
        )
        runs = [
            subprocess.run(
                [sys.executable, str(REPO_ROOT / "examples" / "support_agent.py")],
                cwd=tmp_path,
                env=example_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for _ in range(2)
        ]
    first, second = runs
    assert first.returncode == 0, first.stderr
    out = first.stdout
    # One summary per turn, the customer's facts, and the session's digests.
    assert out.startswith("Compiled 12 new memories for customer-alice-chen.")
    context = out.split("\n\n", 1)[1]
    assert context.startswith("## Task\nHelp the customer with the failing CSV export\n")
    about = context.split("## About this user\n", 1)[1].split("\n\n", 1)[0]
    for fact in ("my name is Alice Chen", "I work at Globex", "We're on the Pro plan"):
        assert f"- {fact}" in about
    assert "Sam" not in about, "the agent's words are not facts about the customer"

    # Idempotent: a second run stores nothing new and prints the same context.
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("Compiled 0 new memories")
    assert "- I work at Globex" in second.stdout


def test_mcp_agent_example_recalls_the_customer_through_mcp_tools(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    server_env = clean_env(
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
    )
    with running_server(uvicorn_command(port), server_env, tmp_path / "server.log", port) as srv:
        example_env = clean_env(
            STATEWAVE_URL=srv.base_url,
            STATEWAVE_API_KEY=API_KEY,
            STATEWAVE_TENANT_ID="mcp-example-tenant",
        )
        runs = [
            subprocess.run(
                [sys.executable, str(REPO_ROOT / "examples" / "mcp_agent.py")],
                cwd=tmp_path,
                env=example_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for _ in range(2)
        ]
        stored = httpx.get(
            f"{srv.base_url}/v1/timeline",
            params={"subject_id": "customer-ana-ruiz"},
            headers={"X-API-Key": API_KEY, "X-Tenant-ID": "mcp-example-tenant"},
        ).json()
    # Two runs, each turn stored once (idempotency keys), the ticket resolved.
    assert len(stored["episodes"]) == 3
    for run in runs:
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0] == "Statewave offers 8 tools."  # delete_subject is off by default
        tools = [line.removeprefix("  [tool] ") for line in lines if line.startswith("  [tool]")]
        assert tools == [
            "record_episode",
            "record_episode",
            "compile_memories",
            "record_resolution",
            "record_episode",
            "get_context",
        ]
        assert lines[-1] == "agent: Yes — you told us: I work at Initech."
    assert runs[0].stdout == runs[1].stdout
