"""The SDK's error mapping over our error envelopes: 401, 403, 404, 422, 429, no server.

``{"error": {"code", "message", "details"?, "request_id"?}}`` must surface as
``StatewaveAPIError`` with those attributes (the SDK falls back to ``code="unknown"`` when
it cannot read the envelope, so every assertion on ``code`` checks the envelope too).
"""

from __future__ import annotations

import httpx
import pytest
from statewave import (
    AsyncStatewaveClient,
    StatewaveAPIError,
    StatewaveClient,
    StatewaveConnectionError,
)
from statewave.client import NO_RETRY, RetryConfig

from devtools.server import RunningServer, free_port
from tests.fixtures.factories import new_id
from tests.sdk.conftest import (
    API_KEY,
    RATE_LIMIT_RPM,
    AsyncClientFactory,
    ClientFactory,
)

pytestmark = pytest.mark.slow


def _raised(call: object) -> StatewaveAPIError:
    assert callable(call)
    with pytest.raises(StatewaveAPIError) as caught:
        call()
    return caught.value


# -- Authentication ------------------------------------------------------------------------


def test_missing_api_key_is_401_missing_api_key(make_client: ClientFactory) -> None:
    client = make_client(new_id("t"), api_key=None, retry=NO_RETRY)
    error = _raised(lambda: client.list_subjects())
    assert (error.status_code, error.code) == (401, "missing_api_key")
    assert "X-API-Key" in error.message
    assert error.request_id, "the envelope carries the request id"
    # The raw-request path of the SDK (async compile) maps errors the same way.
    error = _raised(lambda: client.compile_memories_async("s"))
    assert (error.status_code, error.code) == (401, "missing_api_key")


def test_wrong_api_key_is_403_invalid_api_key(make_client: ClientFactory) -> None:
    client = make_client(new_id("t"), api_key="not-the-key", retry=NO_RETRY)
    error = _raised(lambda: client.create_episode("s", "user", "message", {"text": "hi"}))
    assert (error.status_code, error.code) == (403, "invalid_api_key")
    assert error.request_id


def test_health_probe_needs_no_key_but_the_api_does(sdk_server: RunningServer) -> None:
    assert httpx.get(f"{sdk_server.base_url}/healthz").status_code == 200
    assert httpx.get(f"{sdk_server.base_url}/v1/subjects").status_code == 401
    headers = {"X-API-Key": API_KEY}
    assert httpx.get(f"{sdk_server.base_url}/v1/subjects", headers=headers).status_code == 200


async def test_async_client_maps_auth_errors(make_async_client: AsyncClientFactory) -> None:
    anonymous = make_async_client(new_id("t"), api_key=None, retry=NO_RETRY)
    with pytest.raises(StatewaveAPIError) as caught:
        await anonymous.get_timeline("s")
    assert (caught.value.status_code, caught.value.code) == (401, "missing_api_key")

    wrong = make_async_client(new_id("t"), api_key="nope", retry=NO_RETRY)
    with pytest.raises(StatewaveAPIError) as caught:
        await wrong.compile_memories_async("s")
    assert (caught.value.status_code, caught.value.code) == (403, "invalid_api_key")


# -- Not found, validation ---------------------------------------------------------------------


def test_unknown_compile_job_is_404(make_client: ClientFactory) -> None:
    client = make_client(new_id("t"), retry=NO_RETRY)
    error = _raised(lambda: client.get_compile_status("0123abcd"))
    assert (error.status_code, error.code) == (404, "job_not_found")
    # The SDK formats its message as "[status] code: <envelope message>".
    assert error.message == "[404] job_not_found: Job not found or expired"
    assert error.request_id


def test_batch_of_101_is_422_validation_error(make_client: ClientFactory) -> None:
    client = make_client(new_id("t"), retry=NO_RETRY)
    item = {"subject_id": "s", "source": "user", "type": "message", "payload": {"text": "x"}}
    error = _raised(lambda: client.create_episodes_batch([item] * 101))
    assert (error.status_code, error.code) == (422, "validation_error")
    assert isinstance(error.details, list) and error.details
    assert error.details[0]["loc"] == ["body", "episodes"]
    assert client.list_subjects().total == 0, "nothing of a rejected batch is stored"

    empty = _raised(lambda: client.create_episodes_batch([]))
    assert (empty.status_code, empty.code) == (422, "validation_error")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_context("s", ""), id="empty-task"),
        pytest.param(lambda c: c.get_context("s", "t", max_tokens=0), id="zero-budget"),
        pytest.param(lambda c: c.search_memories("s", limit=-1), id="search-limit-negative"),
        pytest.param(lambda c: c.get_timeline("s", limit=201), id="timeline-limit-201"),
        pytest.param(lambda c: c.list_subjects(offset=-1), id="subjects-offset-negative"),
        pytest.param(lambda c: c.create_episode("", "user", "m", {}), id="empty-subject"),
        pytest.param(lambda c: c.compile_memories(""), id="compile-empty-subject"),
        pytest.param(lambda c: c.create_resolution("s", "x", status="closed"), id="bad-status"),
        pytest.param(lambda c: c.list_resolutions("s", limit=0), id="resolutions-limit-0"),
        pytest.param(
            lambda c: c.get_sla("s", first_response_threshold_minutes=-1), id="sla-negative"
        ),
    ],
)
def test_invalid_requests_are_422_validation_error(
    make_client: ClientFactory, call: object
) -> None:
    client = make_client(new_id("t"), retry=NO_RETRY)
    assert callable(call)
    error = _raised(lambda: call(client))
    assert (error.status_code, error.code) == (422, "validation_error")
    assert error.details


async def test_async_client_maps_404_and_422(make_async_client: AsyncClientFactory) -> None:
    client = make_async_client(new_id("t"), retry=NO_RETRY)
    with pytest.raises(StatewaveAPIError) as caught:
        await client.get_compile_status("feedbeef")
    assert (caught.value.status_code, caught.value.code) == (404, "job_not_found")
    with pytest.raises(StatewaveAPIError) as caught:
        await client.create_episodes_batch([])
    assert (caught.value.status_code, caught.value.code) == (422, "validation_error")


# -- Rate limiting -----------------------------------------------------------------------------


def _first_rejection(client: StatewaveClient) -> StatewaveAPIError:
    """Call until the limiter says no: it must within ``RATE_LIMIT_RPM + 1`` calls."""
    for _ in range(RATE_LIMIT_RPM + 1):
        try:
            client.list_subjects()
        except StatewaveAPIError as error:
            return error
    raise AssertionError(f"no 429 after {RATE_LIMIT_RPM + 1} requests")


def test_rate_limit_is_429_rate_limited(limited_server: RunningServer) -> None:
    url = limited_server.base_url
    with StatewaveClient(url, api_key=API_KEY, tenant_id=new_id("t"), retry=NO_RETRY) as client:
        error = _first_rejection(client)
        assert (error.status_code, error.code) == (429, "rate_limited")
        assert f"{RATE_LIMIT_RPM} requests per minute" in error.message

        # A retrying client honours Retry-After (capped by backoff_max) and still gives up.
        quick = RetryConfig(max_retries=1, backoff_max=0.05, jitter=False)
        with StatewaveClient(url, api_key=API_KEY, retry=quick) as retrying:
            error = _raised(lambda: retrying.get_timeline("s"))
        assert (error.status_code, error.code) == (429, "rate_limited")

    # Unauthenticated requests are rejected before the limiter (and not counted).
    anonymous = StatewaveClient(url, retry=NO_RETRY)
    error = _raised(lambda: anonymous.list_subjects())
    assert error.status_code == 401
    anonymous.close()
    raw = httpx.get(f"{url}/v1/subjects", headers={"X-API-Key": API_KEY})
    assert raw.status_code == 429
    assert 1 <= int(raw.headers["Retry-After"]) <= 60


async def test_async_rate_limit_is_429(limited_server: RunningServer) -> None:
    async with AsyncStatewaveClient(
        limited_server.base_url, api_key=API_KEY, retry=NO_RETRY
    ) as client:
        with pytest.raises(StatewaveAPIError) as caught:
            for _ in range(RATE_LIMIT_RPM + 1):
                await client.list_subjects()
    assert (caught.value.status_code, caught.value.code) == (429, "rate_limited")


# -- Transport ----------------------------------------------------------------------------


def test_no_server_is_a_connection_error() -> None:
    client = StatewaveClient(f"http://127.0.0.1:{free_port()}", retry=NO_RETRY, timeout=2)
    with pytest.raises(StatewaveConnectionError):
        client.list_subjects()
    client.close()
