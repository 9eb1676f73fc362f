"""Tenant isolation, property-based: random interleavings of writes, reads, compiles and
deletes by two tenants on the *same* subject ids (and the same idempotency keys). After
every step, each tenant's reads contain only its own ids, and the database holds exactly
what each tenant wrote minus what *that tenant* deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from statewave_server.db.engine import Database
from tests.reliability.support import in_process_api

SUBJECTS = ["s1", "s2", "%", "s_"]
WORDS = ["billing", "refund", "login", "export", "50%", "' OR 1=1 --", "_"]

tenant_index = st.integers(0, 1)
subject = st.sampled_from(SUBJECTS)
operation = st.one_of(
    st.tuples(st.just("ingest"), tenant_index, subject, st.sampled_from(WORDS)),
    st.tuples(st.just("batch"), tenant_index, subject, st.sampled_from(["k1", "k2"])),
    st.tuples(st.just("compile"), tenant_index, subject),
    st.tuples(st.just("timeline"), tenant_index, subject),
    st.tuples(st.just("search"), tenant_index, subject, st.sampled_from(WORDS)),
    st.tuples(st.just("context"), tenant_index, subject),
    st.tuples(st.just("subjects"), tenant_index),
    st.tuples(st.just("delete"), tenant_index, subject),
    st.tuples(st.just("peek_job"), tenant_index),
)


@dataclass
class Model:
    """What each tenant has written and not deleted: ids by (tenant, subject)."""

    tenants: tuple[str, str]
    episodes: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    memories: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    batch_keys: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    jobs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def owned(self, kind: str, tenant: str) -> set[str]:
        table = self.episodes if kind == "episodes" else self.memories
        return {i for (t, _), ids in table.items() if t == tenant for i in ids}

    def foreign(self, kind: str, tenant: str) -> set[str]:
        other = self.tenants[1] if tenant == self.tenants[0] else self.tenants[0]
        return self.owned(kind, other)


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    app: FastAPI
    client: httpx.AsyncClient

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def harness(db_url: str) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    context = in_process_api(db_url)
    app, client = loop.run_until_complete(context.__aenter__())
    try:
        yield Harness(loop, app, client)
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


async def _step(client: httpx.AsyncClient, model: Model, op: tuple[Any, ...]) -> None:
    kind, who = op[0], model.tenants[op[1]]
    headers = {"X-Tenant-ID": who}
    if kind == "ingest":
        body = {"subject_id": op[2], "source": "p", "type": "m", "payload": {"text": op[3]}}
        response = await client.post("/v1/episodes", json=body, headers=headers)
        assert response.status_code == 201, response.text
        model.episodes[(who, op[2])].add(response.json()["id"])
    elif kind == "batch":
        # Both tenants reuse the same Idempotency-Key on the same subject.
        body = {
            "episodes": [
                {"subject_id": op[2], "source": "p", "type": "m", "payload": {"text": w}}
                for w in ("refund requested", "login fails")
            ]
        }
        response = await client.post(
            "/v1/episodes/batch", json=body, headers={**headers, "Idempotency-Key": op[3]}
        )
        assert response.status_code == 201, response.text
        ids = [e["id"] for e in response.json()["episodes"]]
        assert not set(ids) & model.foreign("episodes", who), "another tenant's episode"
        previous = model.batch_keys.get((who, op[2], op[3]))
        if previous is not None and set(previous) <= model.episodes[(who, op[2])]:
            assert ids == previous  # a retry returns the stored episodes
        model.batch_keys[(who, op[2], op[3])] = ids
        model.episodes[(who, op[2])].update(ids)
    elif kind == "compile":
        response = await client.post(
            "/v1/memories/compile", json={"subject_id": op[2]}, headers=headers
        )
        assert response.status_code == 200, response.text
        created = _ids(response.json()["memories"])
        assert not created & model.foreign("memories", who)
        model.memories[(who, op[2])].update(created)
    elif kind == "timeline":
        response = await client.get(
            "/v1/timeline", params={"subject_id": op[2], "limit": 100}, headers=headers
        )
        assert response.status_code == 200
        body = response.json()
        assert _ids(body["episodes"]) == model.episodes[(who, op[2])]
        assert _ids(body["memories"]) <= model.memories[(who, op[2])]
    elif kind == "search":
        response = await client.get(
            "/v1/memories/search", params={"subject_id": op[2], "q": op[3]}, headers=headers
        )
        assert response.status_code == 200
        assert _ids(response.json()["memories"]) <= model.memories[(who, op[2])]
    elif kind == "context":
        response = await client.post(
            "/v1/context", json={"subject_id": op[2], "task": "billing refund"}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert _ids(body["episodes"]) <= model.episodes[(who, op[2])]
        assert _ids(body["facts"] + body["procedures"]) <= model.memories[(who, op[2])]
    elif kind == "subjects":
        response = await client.get("/v1/subjects", params={"limit": 100}, headers=headers)
        assert response.status_code == 200
        listed = {s["subject_id"]: s["episode_count"] for s in response.json()["subjects"]}
        expected = {s: len(model.episodes[(who, s)]) for s in SUBJECTS if model.episodes[(who, s)]}
        assert {s: n for s, n in listed.items() if n} == expected
    elif kind == "delete":
        response = await client.delete(f"/v1/subjects/{op[2]}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["episodes_deleted"] == len(model.episodes[(who, op[2])])
        model.episodes[(who, op[2])].clear()
        model.memories[(who, op[2])].clear()
        for key in [k for k in model.batch_keys if k[:2] == (who, op[2])]:
            del model.batch_keys[key]
    elif kind == "peek_job":
        # Queue an async compile as the other tenant, then try to read it as this one.
        other = model.tenants[1 - op[1]]
        queued = await client.post(
            "/v1/memories/compile",
            json={"subject_id": "s1", "async": True},
            headers={"X-Tenant-ID": other},
        )
        assert queued.status_code == 202, queued.text
        job_id = queued.json()["job_id"]
        peek = await client.get(f"/v1/memories/compile/{job_id}", headers=headers)
        assert peek.status_code == 404, peek.text
        own = await client.get(f"/v1/memories/compile/{job_id}", headers={"X-Tenant-ID": other})
        assert own.status_code == 200


async def _check_database(database: Database, model: Model) -> None:
    """Stored rows per tenant are exactly the model's: no one removed another's rows."""
    async with database.engine.connect() as conn:
        for tenant in model.tenants:
            rows = (
                await conn.execute(
                    text("SELECT id::text FROM episodes WHERE tenant_id = :t"), {"t": tenant}
                )
            ).all()
            assert {r[0] for r in rows} == model.owned("episodes", tenant)
            rows = (
                await conn.execute(
                    text("SELECT id::text FROM memories WHERE tenant_id = :t"), {"t": tenant}
                )
            ).all()
            assert {r[0] for r in rows} == model.owned("memories", tenant)


@settings(
    max_examples=60,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=12))
def test_tenants_never_see_or_change_each_others_data(
    harness: Harness, ops: list[tuple[Any, ...]]
) -> None:
    run = uuid.uuid4().hex[:8]
    model = Model(tenants=(f"tenant-a-{run}", f"tenant-b-{run}"))
    database: Database = harness.app.state.database
    for op in ops:
        harness.run(_step(harness.client, model, op))
        harness.run(_check_database(database, model))
