"""Property-based API fuzzing with Schemathesis over the app's own OpenAPI schema.

Every operation gets generated inputs — valid and invalid (positive and negative modes,
plus Schemathesis' boundary "coverage" phase) — against the real app in process (ASGI)
over a real database, with an API key configured. Each case is sent with the right
``X-API-Key`` both with and without an ``X-Tenant-ID`` header, and once without a key.
No response may be a 5xx, and every 4xx body must be the error envelope
``{"error": {"code", "message", "details"?, "request_id"?}}``. The harness lives in
``tests/fixtures/fuzz.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from statewave_server.app import create_app
from tests.fixtures.fuzz import check_case, fuzz_schema, fuzz_settings, started_app

schema = fuzz_schema(create_app)


@pytest.fixture(scope="module")
def app(db_url: str) -> Iterator[FastAPI]:
    """The app with its real lifespan, started by Schemathesis in its own event loop."""
    yield from started_app(create_app, db_url)


@schema.parametrize()
@fuzz_settings
def test_no_server_errors_and_every_4xx_is_the_envelope(case: Any, app: FastAPI) -> None:
    check_case(case, app)
