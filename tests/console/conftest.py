"""A live console server (real uvicorn, embedded PostgreSQL) seeded through the HTTP API.

The in-process worker is off, so queued jobs stay where the tests put them: the seeded
orphan (a compile job set to ``running`` with ``claimed_at`` 31 minutes ago, past the
default 30-minute threshold) is only ever rescued by the console. A webhook URL pointing
at a closed port makes the API write outbox rows, which nothing delivers.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.postgres import REPO_ROOT, PgServer
from devtools.server import RunningServer, start_on_free_port, uvicorn_command
from tests.fixtures.conversation import message_batch

API_KEY = "console-suite-key-0123456789"
TENANT = "acme"
SUBJECT = "dana-whitfield"  # in TENANT
SLASH_SUBJECT = "globex/ops bot"  # default tenant; "/" and a space in the id
CONVERSATION = [
    ("s-1", "user", "Hi, my name is Dana Whitfield and I work at Northwind Traders."),
    ("s-1", "assistant", "Thanks Dana! How can I help you today?"),
    ("s-2", "user", "We're on the Enterprise plan and our CSV export keeps failing."),
    ("s-2", "assistant", "Sorry about that. Let me check the export logs for your account."),
    # Restates the s-2 statement with a new plan: its memories supersede the older ones.
    ("s-3", "user", "We're on the Team plan and our CSV export keeps failing."),
]
ORPHAN_SQL = (
    "UPDATE compilation_jobs SET status = 'running', attempts = 1, "
    "claimed_by = 'ghost-worker', claimed_at = now() - interval '31 minutes', "
    "started_at = now() - interval '31 minutes', heartbeat_at = NULL WHERE id = '{job_id}'"
)


@dataclass
class ConsoleServer:
    server: RunningServer
    pg: PgServer
    database: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def sql(self, statement: str) -> str:
        return self.pg.psql_in(self.database, statement)

    def api(self, tenant: str = "") -> httpx.Client:
        headers = {"X-API-Key": API_KEY}
        if tenant:
            headers["X-Tenant-ID"] = tenant
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    @contextmanager
    def console(self) -> Iterator[httpx.Client]:
        """A browser-like client signed in through the login form (cookies, no header)."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            page = client.get("/console/login")
            assert page.status_code == 200, page.text
            done = client.post(
                "/console/login",
                data={"api_key": API_KEY, "next": "/console", "csrf_token": csrf_of(page.text)},
            )
            assert done.status_code == 303, done.text
            yield client


def csrf_of(html: str) -> str:
    """The page's CSRF token, checking every form on the page carries the same one."""
    tokens = re.findall(r'name="csrf_token" value="([^"]*)"', html)
    assert tokens, "no form on the page"
    assert all(len(t) == 64 and t == tokens[0] for t in tokens), tokens
    return tokens[0]


def _seed(server: ConsoleServer) -> None:
    for tenant, subject in ((TENANT, SUBJECT), ("", SLASH_SUBJECT)):
        with server.api(tenant) as api:
            batch = message_batch(subject, CONVERSATION)
            response = api.post("/v1/episodes/batch", json={"episodes": batch[:4]})
            assert response.status_code == 201, response.text
            compiled = api.post("/v1/memories/compile", json={"subject_id": subject})
            assert compiled.status_code == 200, compiled.text
            # A later message, compiled again, so newer memories can supersede older ones.
            response = api.post("/v1/episodes/batch", json={"episodes": batch[4:]})
            assert response.status_code == 201, response.text
            compiled = api.post("/v1/memories/compile", json={"subject_id": subject})
            assert compiled.status_code == 200, compiled.text
            resolved = api.post(
                "/v1/resolutions",
                json={
                    "subject_id": subject,
                    "session_id": "s-1",
                    "status": "resolved",
                    "resolution_summary": "Introduced herself; nothing to fix.",
                },
            )
            assert resolved.status_code == 200, resolved.text
            opened = api.post(
                "/v1/resolutions",
                json={"subject_id": subject, "session_id": "s-2", "status": "open"},
            )
            assert opened.status_code == 200, opened.text


@contextmanager
def console_on_fresh_database(
    pg: PgServer, template: str, log_dir: Path, **env: str
) -> Iterator[ConsoleServer]:
    """A console server (API key set, no worker) on a new database cloned from ``template``;
    ``env`` adds or overrides settings."""
    db_url = pg.create_database("console", template=template)
    settings = {
        "STATEWAVE_DATABASE_URL": db_url,
        "STATEWAVE_API_KEY": API_KEY,
        "STATEWAVE_RUN_WORKER_IN_PROCESS": "false",
        "STATEWAVE_EMBEDDING_PROVIDER": "hash",
        "STATEWAVE_WEBHOOK_URL": "http://127.0.0.1:9/statewave-hook",
    }
    with start_on_free_port(uvicorn_command, log_dir / "server.log", **settings | env) as running:
        yield ConsoleServer(running, pg, pg.database_name(db_url))


@pytest.fixture(scope="session")
def console_server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    log_dir = tmp_path_factory.mktemp("console-server")
    with console_on_fresh_database(pg, migrated_template, log_dir) as server:
        _seed(server)
        yield server


@pytest.fixture
def make_orphan(console_server: ConsoleServer) -> Callable[[], str]:
    """Queue an async compile through the API and make it an orphan by SQL; its id."""

    def make() -> str:
        with console_server.api(TENANT) as api:
            queued = api.post("/v1/memories/compile", json={"subject_id": SUBJECT, "async": True})
        assert queued.status_code in (200, 202), queued.text
        job_id = str(queued.json()["job_id"])
        console_server.sql(ORPHAN_SQL.format(job_id=job_id))
        return job_id

    return make


def job_status(server: ConsoleServer, job_id: str) -> str:
    return server.sql(f"SELECT status FROM compilation_jobs WHERE id = '{job_id}'")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# Where CI collects files (``.ci/run`` prints it): test-artifacts/ at the repository root.
ARTIFACTS = (
    Path(os.environ.get("TEST_ARTIFACTS_DIR", "") or REPO_ROOT / "test-artifacts") / "console"
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are, so a CI log points at them."""
    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"console screenshots ({len(shots)}): {ARTIFACTS}")
