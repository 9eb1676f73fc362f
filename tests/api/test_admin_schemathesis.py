"""Schemathesis fuzzing of the ``/admin/*`` operations (see ``test_schemathesis``).

The admin router is included here until the app registers it; only admin operations are
fuzzed in this module. Original description:

Every operation gets generated inputs — valid and invalid (positive and negative modes,
plus Schemathesis' boundary "coverage" phase) — against the real app in process (ASGI)
over a real database, with an API key configured. Each case is sent with the right
``X-API-Key`` both with and without an ``X-Tenant-ID`` header, and once without a key.
No response may be a 5xx, and every 4xx body must be the error envelope
``{"error": {"code", "message", "details"?, "request_id"?}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from statewave_server.api.admin import router as admin_router
from statewave_server.api.app import create_app
from statewave_server.api.security import PUBLIC_PATHS
from statewave_server.settings import Settings

API_KEY = "sw-test-key-0123456789"
TENANT = "fuzz-tenant"
MAX_EXAMPLES = 25  # per operation and phase; the whole module runs in well under 2 minutes
_ENVELOPE_FIELDS = {"code", "message", "details", "request_id"}


def _admin_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    if "/admin/dashboard" not in {getattr(r, "path", "") for r in app.routes}:
        app.include_router(admin_router)
    return app


def _settings(database_url: str | None) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        api_key=API_KEY,
        run_worker_in_process=False,
        embedding_provider="hash",
        webhook_url=None,
        tracing_enabled=False,
        log_level="WARNING",
    )


# The schema comes from an app that is never started (the OpenAPI document needs no
# database); each call goes to the fixture's app, which runs over the test database.
schema = schemathesis.openapi.from_asgi("/openapi.json", _admin_app(_settings(None))).include(
    path_regex="^/admin/"
)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


@pytest.fixture(scope="module")
def app(db_url: str) -> Iterator[FastAPI]:
    """The app with its real lifespan, started by Schemathesis in its own event loop."""
    yield _admin_app(_settings(db_url))
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()  # dispose of the app's engine before the database goes away


def _describe(case: Any, response: Any, variant: str) -> str:
    return (
        f"{variant}: {case.method} {case.formatted_path} -> {response.status_code}\n"
        f"query={case.query!r} path={case.path_parameters!r} body={case.body!r}\n"
        f"response={response.text[:1000]}"
    )


def _check(case: Any, response: Any, variant: str) -> None:
    where = _describe(case, response, variant)
    assert response.status_code < 500, where
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error"}, where
        error = body["error"]
        assert isinstance(error, dict) and set(error) <= _ENVELOPE_FIELDS, where
        assert isinstance(error["code"], str) and error["code"], where
        assert isinstance(error["message"], str), where
        echoed = response.headers.get("x-request-id") or [None]  # header values are lists
        assert error.get("request_id") == echoed[0], where


@schema.parametrize()
@settings(
    deadline=timedelta(seconds=10),
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_every_4xx_is_the_envelope(case: Any, app: FastAPI) -> None:
    keyed = {"X-API-Key": API_KEY}
    with_tenant = case.call(app=app, headers={**keyed, "X-Tenant-ID": TENANT})
    _check(case, with_tenant, "api key + tenant")
    without_tenant = case.call(app=app, headers=keyed)
    _check(case, without_tenant, "api key, default tenant")

    anonymous = case.call(app=app)
    _check(case, anonymous, "no api key")
    if case.path not in PUBLIC_PATHS:
        assert anonymous.status_code == 401, _describe(case, anonymous, "no api key")
        assert anonymous.json()["error"]["code"] == "missing_api_key"
