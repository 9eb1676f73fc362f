"""The examples run as real programs against a live server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import RunningServer, clean_env, start_on_free_port, uvicorn_command

pytestmark = pytest.mark.slow

API_KEY = "example-key-42"


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("examples") / "server.log"
    with start_on_free_port(
        uvicorn_command,
        log_path,
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
    ) as running:
        yield running


def run_twice(example: str, server: RunningServer, tenant: str, cwd: Path) -> list[str]:
    """Standard output of two runs of ``examples/<example>`` (each must exit 0)."""
    env = clean_env(
        STATEWAVE_URL=server.base_url, STATEWAVE_API_KEY=API_KEY, STATEWAVE_TENANT_ID=tenant
    )
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "examples" / example)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    return outputs


def test_support_agent_example_prints_the_customers_context(
    server: RunningServer, tmp_path: Path
) -> None:
    out, again = run_twice("support_agent.py", server, "example-tenant", tmp_path)
    # One summary per turn, the customer's facts, and the session's digests.
    assert out.startswith("Compiled 12 new memories for customer-alice-chen.")
    context = out.split("\n\n", 1)[1]
    assert context.startswith("## Task\nHelp the customer with the failing CSV export\n")
    about = context.split("## About this user\n", 1)[1].split("\n\n", 1)[0]
    for fact in ("my name is Alice Chen", "I work at Globex", "We're on the Pro plan"):
        assert f"- {fact}" in about
    assert "Sam" not in about, "the agent's words are not facts about the customer"

    # Idempotent: a second run stores nothing new and prints the same context.
    assert again.startswith("Compiled 0 new memories")
    assert "- I work at Globex" in again


def test_mcp_agent_example_recalls_the_customer_through_mcp_tools(
    server: RunningServer, tmp_path: Path
) -> None:
    runs = run_twice("mcp_agent.py", server, "mcp-example-tenant", tmp_path)
    stored = httpx.get(
        f"{server.base_url}/v1/timeline",
        params={"subject_id": "customer-ana-ruiz"},
        headers={"X-API-Key": API_KEY, "X-Tenant-ID": "mcp-example-tenant"},
    ).json()
    # Two runs, each turn stored once (idempotency keys).
    assert len(stored["episodes"]) == 3
    for out in runs:
        lines = out.splitlines()
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
    assert runs[0] == runs[1]
