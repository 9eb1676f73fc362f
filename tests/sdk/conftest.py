"""Live server processes for the SDK suite (real uvicorn, embedded PostgreSQL, no mocks).

One API-key-protected server serves the whole session; a second, rate-limited instance
exists only for the 429 tests. Every test gets its own tenant, so tests never see each
other's subjects (and ``list_subjects`` totals are exact).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from statewave import AsyncStatewaveClient, StatewaveClient
from statewave.client import RetryConfig

from devtools.postgres import PgServer
from devtools.server import RunningServer, start_on_free_port, uvicorn_command

API_KEY = "sdk-suite-key-0123456789"
RATE_LIMIT_RPM = 2


def live_server(
    db_url: str, log_path: Path, **extra_env: str
) -> AbstractContextManager[RunningServer]:
    """``python -m uvicorn server.app:app`` on a free port, API key on, in-process worker."""
    return start_on_free_port(
        uvicorn_command,
        log_path,
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_API_KEY=API_KEY,
        STATEWAVE_RUN_WORKER_IN_PROCESS="true",
        STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.2",
        STATEWAVE_EMBEDDING_PROVIDER="local",
        **extra_env,
    )


@pytest.fixture(scope="session")
def sdk_server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The server every SDK test talks to (fresh database at head)."""
    db_url = pg.create_database("sdk", template=migrated_template)
    log_path = tmp_path_factory.mktemp("sdk-server") / "server.log"
    with live_server(db_url, log_path) as server:
        yield server


@pytest.fixture(scope="session")
def limited_server(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A second instance with ``STATEWAVE_RATE_LIMIT_RPM=2`` (in-memory limiter, per IP)."""
    db_url = pg.create_database("sdkrl", template=migrated_template)
    log_path = tmp_path_factory.mktemp("sdk-limited") / "server.log"
    with live_server(db_url, log_path, STATEWAVE_RATE_LIMIT_RPM=str(RATE_LIMIT_RPM)) as server:
        yield server


@pytest.fixture
def base_url(sdk_server: RunningServer) -> str:
    return sdk_server.base_url


ClientFactory = Callable[..., StatewaveClient]
AsyncClientFactory = Callable[..., AsyncStatewaveClient]


@pytest.fixture
def make_client(base_url: str) -> Iterator[ClientFactory]:
    """Sync clients with the API key; closed after the test."""
    made: list[StatewaveClient] = []

    def make(
        tenant_id: str | None = None,
        *,
        api_key: str | None = API_KEY,
        retry: RetryConfig | None = None,
        url: str | None = None,
    ) -> StatewaveClient:
        client = StatewaveClient(url or base_url, api_key=api_key, tenant_id=tenant_id, retry=retry)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def make_async_client(base_url: str) -> AsyncIterator[AsyncClientFactory]:
    """Async clients with the API key; closed after the test."""
    made: list[AsyncStatewaveClient] = []

    def make(
        tenant_id: str | None = None,
        *,
        api_key: str | None = API_KEY,
        retry: RetryConfig | None = None,
        url: str | None = None,
    ) -> AsyncStatewaveClient:
        client = AsyncStatewaveClient(
            url or base_url, api_key=api_key, tenant_id=tenant_id, retry=retry
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def client(make_client: ClientFactory, tenant: str) -> StatewaveClient:
    """A sync client with the API key and this test's tenant (default retry policy)."""
    return make_client(tenant)


@pytest.fixture
def async_client(make_async_client: AsyncClientFactory, tenant: str) -> AsyncStatewaveClient:
    """An async client with the API key and this test's tenant (default retry policy)."""
    return make_async_client(tenant)


# -- A short support conversation shared by the sync and async suites ------------------

SESSION = "sess-export-1"

#: (source, role, text) per turn; the agent's words must never become customer facts.
CONVERSATION: tuple[tuple[str, str, str], ...] = (
    ("user", "user", "Hi, my name is Alice Chen and I work at Globex."),
    ("assistant", "assistant", "Sorry to hear that! I'm Sam from support. Which browser?"),
    ("user", "user", "We're on the Pro plan, and the CSV export keeps failing since Monday."),
    ("user", "user", "I use Firefox on Windows."),
)

#: The profile facts the heuristic compiler extracts from the customer's turns.
EXPECTED_FACTS = frozenset(
    {
        "my name is Alice Chen",
        "I work at Globex",
        "We're on the Pro plan",
        "I use Firefox on Windows",
    }
)


def turn_payload(role: str, text: str) -> dict[str, object]:
    return {"messages": [{"role": role, "content": text}]}


def conversation_batch(subject_id: str, session_id: str = SESSION) -> list[dict[str, object]]:
    """The conversation as ``create_episodes_batch`` items (one episode per turn)."""
    return [
        {
            "subject_id": subject_id,
            "source": source,
            "type": "message",
            "payload": turn_payload(role, text),
            "session_id": session_id,
            "provenance": {"turn": index},
        }
        for index, (source, role, text) in enumerate(CONVERSATION)
    ]
