"""Schemathesis fuzzing of the ``/admin/*`` operations (see ``test_schemathesis``).

Only admin operations are fuzzed in this module. The harness (inputs, variants and checks) lives in
``tests/fixtures/fuzz.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from statewave_server.app import create_app
from tests.fixtures.fuzz import check_case, fuzz_schema, fuzz_settings, started_app

schema = fuzz_schema(create_app, path_regex="^/admin/")


@pytest.fixture(scope="module")
def app(db_url: str) -> Iterator[FastAPI]:
    """The app with its real lifespan, started by Schemathesis in its own event loop."""
    yield from started_app(create_app, db_url)


@schema.parametrize()
@fuzz_settings
def test_no_server_errors_and_every_4xx_is_the_envelope(case: Any, app: FastAPI) -> None:
    check_case(case, app)
