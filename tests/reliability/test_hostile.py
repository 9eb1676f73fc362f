"""Hostile input: oversized and deeply nested bodies, SQL wildcard and injection strings in
text filters, every non-public route without or with a wrong API key, and the key check's
constant-time comparison."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from statewave_server.api.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    MAX_FIELD_DEPTH,
)
from statewave_server.api.security import MIGRATIONS_PATH, PUBLIC_PATHS
from statewave_server.db.engine import Database
from statewave_server.db.models import Memory
from statewave_server.settings import Settings
from tests.reliability.support import in_process_api

KEY = "the-right-key-0123456789"
TENANT = "hostile-tenant"
SUBJECT = "hostile-subject"
HOSTILE_TEXT = ["%", "_", "' OR 1=1 --", "\\", "%%", "50%", "a_b", "'; DROP TABLE episodes; --"]
MEMORY_TEXTS = {
    "percent": "Applied a discount of 50% to the renewal",
    "underscore": "The customer prefers snake_case field names",
    "backslash": "Exports are saved under C:\\exports\\daily",
    "plain": "Shipping address changed to Lisbon",
    "number": "Order 5000 shipped yesterday",
}


def _episode(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"subject_id": SUBJECT, "source": "chat", "type": "message", "payload": {"text": text}}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


@pytest.fixture(scope="module")
async def api(db_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with in_process_api(db_url, headers={"X-Tenant-ID": TENANT}) as pair:
        yield pair


@pytest.fixture(scope="module")
async def client(api: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return api[1]


# --- body size and depth -------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_by_content_length(client: httpx.AsyncClient) -> None:
    body = b'{"episodes": [' + b" " * DEFAULT_MAX_BODY_BYTES + b"]}"
    response = await client.post(
        "/v1/episodes/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_a_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, content_type: str
) -> None:
    chunk = b" " * (1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked upload
        for _ in range(DEFAULT_MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    response = await client.post(
        "/v1/episodes/batch", content=chunks(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_normal_body_still_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/episodes", json=_episode("fine"))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("depth", [MAX_FIELD_DEPTH + 1, DEFAULT_MAX_JSON_DEPTH + 1, 5_000, 100_000])
@pytest.mark.parametrize("field", ["payload", "metadata", "provenance"])
async def test_deeply_nested_json_is_422(client: httpx.AsyncClient, depth: int, field: str) -> None:
    if depth > 1000:  # beyond json.dumps' own recursion limit: build the text directly
        inner = '{"n": ' * (depth - 1) + '{"leaf": true}' + "}" * (depth - 1)
    else:
        inner = json.dumps(_nested(depth))
    episode = {**_episode(), field: "__INNER__"}
    body = json.dumps(episode).replace('"__INNER__"', inner)
    response = await client.post(
        "/v1/episodes", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["code"] == "validation_error"


async def test_nesting_up_to_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    deepest = {**_episode(), "payload": _nested(MAX_FIELD_DEPTH)}
    response = await client.post("/v1/episodes", json=deepest)
    assert response.status_code == 201, response.text[:300]
    batch = await client.post("/v1/episodes/batch", json={"episodes": [deepest]})
    assert batch.status_code == 201, batch.text[:300]


async def test_a_deep_array_in_a_batch_is_422(client: httpx.AsyncClient) -> None:
    body = '{"episodes": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = await client.post(
        "/v1/episodes/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


# --- wildcard and injection strings are text -------------------------------------------


@pytest.fixture(scope="module")
async def memories(api: tuple[FastAPI, httpx.AsyncClient]) -> dict[str, str]:
    """Memories with known contents, stored directly (ids by label)."""
    database: Database = api[0].state.database
    ids = {label: uuid.uuid4() for label in MEMORY_TEXTS}
    rows = [
        {
            "id": ids[label],
            "tenant_id": TENANT,
            "subject_id": SUBJECT,
            "kind": "profile_fact",
            "content": text,
            "summary": text,
        }
        for label, text in MEMORY_TEXTS.items()
    ]
    async with database.primary.begin() as session:
        await session.execute(insert(Memory), rows)
    return {label: str(memory_id) for label, memory_id in ids.items()}


async def _search(client: httpx.AsyncClient, q: str, subject: str = SUBJECT) -> set[str]:
    response = await client.get(
        "/v1/memories/search", params={"subject_id": subject, "q": q, "limit": 50}
    )
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["memories"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("50%", {"percent"}),
        ("%", {"percent"}),
        ("_", {"underscore"}),
        ("5_%", set()),  # "_" and "%" are not wildcards: no "5<any char>"
        ("\\", {"backslash"}),
        ("' OR 1=1 --", set()),
        ("'; DROP TABLE memories; --", set()),
        ("%%%%", set()),
        ("____", set()),
    ],
)
async def test_search_text_is_literal(
    client: httpx.AsyncClient, memories: dict[str, str], query: str, expected: set[str]
) -> None:
    assert await _search(client, query) == {memories[label] for label in expected}


@pytest.mark.parametrize("subject", ["%", "_", "' OR 1=1 --", "\\", "hostile%", "hostile_subject"])
async def test_subject_filters_are_literal(
    client: httpx.AsyncClient, memories: dict[str, str], subject: str
) -> None:
    """A subject id made of wildcard or injection text matches no other subject."""
    assert await _search(client, "discount", subject=subject) == set()
    timeline = await client.get("/v1/timeline", params={"subject_id": subject})
    assert timeline.status_code == 200
    body = timeline.json()
    assert body.get("episodes", []) == [] and body.get("memories", []) == []
    deleted = await client.delete(f"/v1/subjects/{subject}")
    assert deleted.status_code < 500
    assert await _search(client, "discount") == {memories["percent"]}  # nothing erased


def _string_query_params(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, name) for every string-ish query parameter of a GET route."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if "{" in path:
            continue
        for method, operation in operations.items():
            if method != "get":
                continue
            for param in operation.get("parameters", []):
                schema = json.dumps(param.get("schema", {}))
                if param["in"] == "query" and '"string"' in schema and "enum" not in schema:
                    found.append((method, path, param["name"]))
    return found


async def test_every_text_filter_takes_hostile_text_without_a_server_error(
    api: tuple[FastAPI, httpx.AsyncClient], memories: dict[str, str]
) -> None:
    app, client = api
    params = _string_query_params(app)
    assert ("get", "/v1/memories/search", "q") in params
    for _method, path, name in params:
        for text in HOSTILE_TEXT:
            query = {"subject_id": SUBJECT, name: text}
            response = await client.get(path, params=query)
            assert response.status_code < 500, (path, name, text, response.text[:300])
            if response.status_code >= 400:
                assert "error" in response.json()
    # Still all there.
    assert len(await _search(client, "the")) >= 1
    assert await _search(client, "50%") == {memories["percent"]}


# --- authentication on every route -----------------------------------------------------


def _protected_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC_PATHS or path == MIGRATIONS_PATH:  # its ?verbose: test_runbook_walk
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        routes.extend((method.upper(), concrete) for method in operations)
    return routes


@pytest.fixture(scope="module")
async def keyed(db_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    # Every route is tried with several wrong keys: no throttling of failures here.
    async with in_process_api(db_url, api_key=KEY, auth_failure_limit=0) as pair:
        yield pair


async def test_every_non_public_route_needs_the_key(
    keyed: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = keyed
    routes = _protected_routes(app)
    assert len(routes) >= 15
    wrong_keys = ["wrong", KEY[:-1], KEY + "x", KEY.upper(), " " + KEY, "x" * 4096]
    for method, path in routes:
        missing = await client.request(method, path, json={})
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.json()["error"]["code"] == "missing_api_key"
        for wrong in wrong_keys:
            bad = await client.request(method, path, json={}, headers={"X-API-Key": wrong})
            assert bad.status_code == 403, (method, path, wrong, bad.text)
            assert bad.json()["error"]["code"] == "invalid_api_key"
        good = await client.request(method, path, json={}, headers={"X-API-Key": KEY})
        assert good.status_code not in (401, 403), (method, path, good.text)
    for path in ("/healthz", "/openapi.json"):
        assert (await client.get(path)).status_code == 200


async def test_the_key_is_compared_in_constant_time(
    keyed: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every presented key goes through ``hmac.compare_digest`` (no early-exit ``==``)."""
    _, client = keyed
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # what api_key_matches calls
    for presented in ["x", KEY[:-1] + "!", KEY]:
        await client.get("/v1/subjects", headers={"X-API-Key": presented})
    assert [a for a, _ in calls] == [b"x", (KEY[:-1] + "!").encode(), KEY.encode()]
    assert {b for _, b in calls} == {KEY.encode()}


def test_body_limit_default_matches_settings() -> None:
    limit = getattr(Settings(_env_file=None), "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    assert limit == DEFAULT_MAX_BODY_BYTES == 10 * 1024 * 1024
