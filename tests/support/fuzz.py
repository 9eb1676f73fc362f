"""The Schemathesis harness shared by the API fuzz modules.

Every operation gets generated inputs — valid and invalid (positive and negative modes,
plus Schemathesis' boundary "coverage" phase) — against the real app in process (ASGI)
over a real database, with an API key configured. Each case is sent with the right
``X-API-Key`` both with and without an ``X-Tenant-ID`` header, and once without a key.
No response may be a 5xx, and every 4xx body must be the error envelope
``{"error": {"code", "message", "details"?, "request_id"?}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.schemas import BaseSchema

from statewave_server.api.security import MIGRATIONS_PATH, PUBLIC_PATHS
from statewave_server.settings import Settings

API_KEY = "sw-test-key-0123456789"
TENANT = "fuzz-tenant"
MAX_EXAMPLES = 25  # per operation and phase; a whole module runs in well under 2 minutes
_ENVELOPE_FIELDS = {"code", "message", "details", "request_id"}

# Hypothesis settings for every fuzz test (apply under ``@schema.parametrize()``).
fuzz_settings = settings(
    deadline=timedelta(seconds=10),
    suppress_health_check=list(HealthCheck),
)


def app_settings(database_url: str | None) -> Settings:
    """Settings for the fuzzed app: API key on, no worker, no webhooks, quiet logs."""
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


def fuzz_schema(
    make_app: Callable[[Settings], FastAPI], path_regex: str | None = None
) -> BaseSchema:
    """The app's OpenAPI schema (optionally only paths matching ``path_regex``), set up
    for positive and negative generation.

    The schema comes from an app that is never started (the OpenAPI document needs no
    database); each call goes to the module's ``app`` fixture, which runs over the test
    database (see :func:`started_app`).
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(app_settings(None)))
    if path_regex is not None:
        schema = schema.include(path_regex=path_regex)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
    )
    return schema


def started_app(make_app: Callable[[Settings], FastAPI], database_url: str) -> Iterator[FastAPI]:
    """Body of a module-scoped ``app`` fixture: the app with its real lifespan, started by
    Schemathesis in its own event loop, and shut down after the module."""
    yield make_app(app_settings(database_url))
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


def check_case(case: Any, app: FastAPI) -> None:
    """Send ``case`` keyed with and without a tenant, and anonymously; check every reply."""
    keyed = {"X-API-Key": API_KEY}
    with_tenant = case.call(app=app, headers={**keyed, "X-Tenant-ID": TENANT})
    _check(case, with_tenant, "api key + tenant")
    without_tenant = case.call(app=app, headers=keyed)
    _check(case, without_tenant, "api key, default tenant")

    anonymous = case.call(app=app)
    _check(case, anonymous, "no api key")
    plain_migrations = case.path == MIGRATIONS_PATH and "verbose" not in (case.query or {})
    if case.path not in PUBLIC_PATHS and not plain_migrations:
        assert anonymous.status_code == 401, _describe(case, anonymous, "no api key")
        assert anonymous.json()["error"]["code"] == "missing_api_key"
