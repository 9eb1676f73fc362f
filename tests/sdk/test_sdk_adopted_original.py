"""The whole database the original Statewave 0.6.1 wrote, adopted, then used as a client would.

The database is ``../shared/compat/upstream-0.6.1/upstream-0.6.1-with-data.sql`` (filled by
the original server through its own API). Under ``CI=true`` it must be present.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from statewave import StatewaveClient

from devtools.postgres import PgServer, alembic, run_cli
from devtools.server import RunningServer
from tests.console.conftest import csrf_of
from tests.fixtures.original_db import shared_file
from tests.sdk.conftest import API_KEY, live_server

DUMP = shared_file("upstream-0.6.1-with-data.sql")
DEFAULT_SUBJECTS = {"customer-ana", "customer-bo", "customer-cy"}


@pytest.fixture(scope="module")
def adopted_url(pg: PgServer) -> str:
    if not DUMP.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DUMP} is missing (it is present in CI)")
        pytest.skip(f"{DUMP} is not present")
    url = pg.create_database("orig061")
    pg.psql_in(pg.database_name(url), str(DUMP), is_file=True)
    done = alembic("upgrade", "head", database_url=url)
    assert "Adopted the original Statewave database" in done.stderr
    return url


@pytest.fixture(scope="module")
def server(adopted_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path: Path = tmp_path_factory.mktemp("adopted") / "server.log"
    with live_server(adopted_url, log_path) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[StatewaveClient]:
    with StatewaveClient(server.base_url, api_key=API_KEY) as made:
        yield made


@pytest.fixture
def acme(server: RunningServer) -> Iterator[StatewaveClient]:
    with StatewaveClient(server.base_url, api_key=API_KEY, tenant_id="acme") as made:
        yield made


def test_sdk_reads_every_adopted_subject(client: StatewaveClient, acme: StatewaveClient) -> None:
    subjects = client.list_subjects()
    assert {s.subject_id for s in subjects.subjects} == DEFAULT_SUBJECTS
    assert {s.subject_id for s in acme.list_subjects().subjects} == {"customer-bo", "customer-cy"}
    timeline = client.get_timeline("customer-ana")
    assert len(timeline.episodes) == 6
    found = client.search_memories("customer-ana", query="Initech")
    assert found.memories and all("initech" in m.content.lower() for m in found.memories)
    assert [r.status for r in acme.list_resolutions("customer-cy")] == ["open"]
    assert [r.status for r in client.list_resolutions("customer-bo")] == ["resolved"]
    context = acme.get_context("customer-bo", "Why does the CSV export fail?")
    assert "CSV" in context.assembled_context


def test_sdk_writes_and_compiles_on_the_adopted_database(client: StatewaveClient) -> None:
    client.create_episode(
        subject_id="customer-cy",
        source="support-chat",
        type="conversation",
        payload={"messages": [{"role": "user", "content": "I moved to Porto last week."}]},
    )
    client.compile_memories("customer-cy")
    found = client.search_memories("customer-cy", query="Porto")
    assert any("Porto" in m.content for m in found.memories)


def _semantic_bo(server: RunningServer) -> list[str]:
    # (The original superseded the default tenant's customer-bo memories when it compiled
    # acme's; acme holds the active ones.)
    with StatewaveClient(server.base_url, api_key=API_KEY, tenant_id="acme") as acme:
        found = acme.search_memories("customer-bo", query="which city is home", semantic=True)
    return [m.content for m in found.memories]


def test_backfill_embeds_the_adopted_memories(adopted_url: str, server: RunningServer) -> None:
    assert "I live in Lisbon" not in _semantic_bo(server)  # the original's vectors never compare
    done = run_cli(
        ["statewave_server", "embeddings", "backfill", "--json"],
        adopted_url,
        extra_env={"STATEWAVE_EMBEDDING_PROVIDER": "local"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "I live in Lisbon" in _semantic_bo(server)


def test_console_shows_an_adopted_subject(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as console:
        page = console.get("/console/login")
        console.post(
            "/console/login",
            data={"api_key": API_KEY, "next": "/console", "csrf_token": csrf_of(page.text)},
        )
        subject = console.get("/console/subjects/customer-ana")
        assert subject.status_code == 200
        assert "Initech" in subject.text
        listing = console.get("/console/subjects")
        assert listing.status_code == 200
        assert all(s in listing.text for s in DEFAULT_SUBJECTS)
