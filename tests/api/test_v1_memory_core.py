"""The memory core end to end: ingest → compile (sync and async) → search → context."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db.engine import Database
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.settings import Settings
from statewave_server.worker.handlers import build_handlers
from statewave_server.worker.runner import Worker

TENANT = {"X-Tenant-ID": "acme"}
CONVERSATION = [
    ("user", "Hi, my name is Dana Whitfield and I work at Northwind Traders."),
    ("assistant", "Thanks Dana! How can I help you today?"),
    ("user", "We're on the Enterprise plan and our CSV export keeps failing."),
    ("assistant", "Sorry about that. Let me check the export logs for your account."),
]
SUBJECT_TABLES = (
    "episodes",
    "memories",
    "resolutions",
    "subject_health_cache",
    "compilation_jobs",
)


def _message(subject: str, role: str, content: str, session: str = "s-1") -> dict[str, object]:
    return {
        "subject_id": subject,
        "source": role,
        "type": "message",
        "payload": {"messages": [{"role": role, "content": content}]},
        "session_id": session,
    }


async def _ingest(api: httpx.AsyncClient, subject: str, headers: dict[str, str]) -> list[str]:
    batch = [_message(subject, role, content) for role, content in CONVERSATION]
    response = await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
    assert response.status_code == 201
    return [e["id"] for e in response.json()["episodes"]]


async def _run_worker_once(settings: Settings, runtime: MemoryRuntime) -> None:
    database = Database.from_settings(settings)
    try:
        handlers = build_handlers(runtime)
        assert await Worker(database, settings, handlers).run_once()
    finally:
        await database.dispose()


async def test_golden_path_context_holds_the_facts_and_cites_their_episodes(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    episode_ids = await _ingest(api, "dana", TENANT)
    compiled = await api.post("/v1/memories/compile", json={"subject_id": "dana"}, headers=TENANT)
    assert compiled.status_code == 200
    assert compiled.json()["memories_created"] > 0
    again = await api.post("/v1/memories/compile", json={"subject_id": "dana"}, headers=TENANT)
    assert again.json()["memories_created"] == 0

    response = await api.post(
        "/v1/context",
        json={"subject_id": "dana", "task": "Help with the failing export", "max_tokens": 500},
        headers=TENANT,
    )
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["token_estimate"] <= 500
    context = bundle["assembled_context"]
    for fact in ("Dana Whitfield", "Northwind Traders", "Enterprise plan"):
        assert fact in context
    facts = {m["content"]: m for m in bundle["facts"] if m["kind"] == "profile_fact"}
    cited = {source for m in facts.values() for source in m["source_episode_ids"]}
    assert cited <= set(episode_ids)
    assert episode_ids[0] in cited and episode_ids[2] in cited
    assert set(bundle["provenance"]["fact_ids"]) == {m["id"] for m in facts.values()}

    deleted = await api.delete("/v1/subjects/dana", headers=TENANT)
    assert deleted.json()["episodes_deleted"] == 4
    async with engine.connect() as conn:
        for table in SUBJECT_TABLES:
            left = await conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE subject_id = 'dana'")
            )
            assert left == 0, table
        mentions = await conn.scalar(
            text(
                "SELECT count(*) FROM webhook_events WHERE payload::text LIKE '%\"dana\"%' "
                "AND event <> 'subject.deleted'"
            )
        )
    assert mentions == 0


async def test_async_compile_runs_on_the_durable_queue(
    api: httpx.AsyncClient, api_settings: Settings, local_runtime: MemoryRuntime
) -> None:
    await _ingest(api, "async-dana", TENANT)
    submitted = await api.post(
        "/v1/memories/compile", json={"subject_id": "async-dana", "async": True}, headers=TENANT
    )
    assert submitted.status_code == 202
    job = submitted.json()
    assert job["status"] == "pending"
    await _run_worker_once(api_settings, local_runtime)
    status = (await api.get(f"/v1/memories/compile/{job['job_id']}", headers=TENANT)).json()
    assert status["status"] == "completed"
    assert status["memories_created"] == len(status["memories"]) > 0
    assert all(m["subject_id"] == "async-dana" for m in status["memories"])
    search = await api.get(
        "/v1/memories/search",
        params={"subject_id": "async-dana", "q": "Whitfield", "semantic": "true"},
        headers=TENANT,
    )
    assert any("Dana Whitfield" in m["content"] for m in search.json()["memories"])
    other_tenant = await api.get(f"/v1/memories/compile/{job['job_id']}")
    assert other_tenant.status_code == 404
    assert other_tenant.json()["error"]["code"] == "job_not_found"


async def test_async_compile_embeds_its_memories(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        missing = await conn.scalar(
            text(
                "SELECT count(*) FROM memories WHERE subject_id = 'async-dana' "
                "AND (embedding IS NULL OR embedding_model <> 'all-MiniLM-L6-v2')"
            )
        )
        dims = await conn.scalar(
            text(
                "SELECT DISTINCT vector_dims(embedding) FROM memories "
                "WHERE subject_id = 'async-dana'"
            )
        )
    assert (missing, dims) == (0, 384)


async def test_tenants_never_see_or_supersede_each_other(api: httpx.AsyncClient) -> None:
    a, b = {"X-Tenant-ID": "ten-a"}, {"X-Tenant-ID": "ten-b"}
    await _ingest(api, "shared", a)
    await api.post("/v1/memories/compile", json={"subject_id": "shared"}, headers=a)
    await _ingest(api, "shared", b)  # identical facts would supersede A's if unscoped
    await api.post("/v1/memories/compile", json={"subject_id": "shared"}, headers=b)
    for headers in (a, b):
        memories = (
            await api.get(
                "/v1/memories/search",
                params={"subject_id": "shared", "limit": 100},
                headers=headers,
            )
        ).json()["memories"]
        assert len(memories) > 0
        assert all(m["status"] == "active" for m in memories)
        timeline = (
            await api.get("/v1/timeline", params={"subject_id": "shared"}, headers=headers)
        ).json()
        assert all(m["status"] == "active" for m in timeline["memories"])
        assert len(timeline["episodes"]) == 4
    a_ids = {
        m["id"]
        for m in (
            await api.get("/v1/memories/search", params={"subject_id": "shared"}, headers=a)
        ).json()["memories"]
    }
    b_ids = {
        m["id"]
        for m in (
            await api.get("/v1/memories/search", params={"subject_id": "shared"}, headers=b)
        ).json()["memories"]
    }
    assert a_ids.isdisjoint(b_ids)
    context_c = await api.post(
        "/v1/context",
        json={"subject_id": "shared", "task": "export"},
        headers={"X-Tenant-ID": "ten-c"},
    )
    assert context_c.json()["facts"] == [] and context_c.json()["episodes"] == []


async def test_semantic_search_ranks_a_paraphrase_first(api: httpx.AsyncClient) -> None:
    subject, headers = "semantic", {"X-Tenant-ID": "sem"}
    statements = [
        "I'm based in Lisbon, Portugal.",
        "My favourite editor is Vim.",
        "Our invoices are paid by card.",
        "I use Postgres for analytics.",
    ]
    batch = [_message(subject, "user", s) for s in statements]
    await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
    await api.post("/v1/memories/compile", json={"subject_id": subject}, headers=headers)
    response = await api.get(
        "/v1/memories/search",
        params={
            "subject_id": subject,
            "q": "Where does the customer live?",
            "semantic": "true",
            "kind": "episode_summary",
        },
        headers=headers,
    )
    assert "Lisbon" in response.json()["memories"][0]["content"]


async def test_old_memories_outside_the_recency_window_reach_the_context(
    api: httpx.AsyncClient,
) -> None:
    subject, headers = "window", {"X-Tenant-ID": "win"}
    first = [_message(subject, "user", "I'm based in Lisbon, Portugal.")]
    await api.post("/v1/episodes/batch", json={"episodes": first}, headers=headers)
    await api.post("/v1/memories/compile", json={"subject_id": subject}, headers=headers)
    filler = [_message(subject, "user", f"I use build tool number {i}.") for i in range(60)]
    await api.post("/v1/episodes/batch", json={"episodes": filler}, headers=headers)
    await api.post("/v1/memories/compile", json={"subject_id": subject}, headers=headers)
    bundle = (
        await api.post(
            "/v1/context",
            json={
                "subject_id": subject,
                "task": "Where does the customer live?",
                "max_tokens": 3000,
            },
            headers=headers,
        )
    ).json()
    assert "Lisbon" in bundle["assembled_context"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/v1/memories/search", {"params": {"subject_id": "x", "limit": -1}}),
        ("get", "/v1/memories/search", {"params": {"subject_id": "x", "limit": 101}}),
        ("get", "/v1/memories/search", {"params": {"limit": 5}}),
        ("post", "/v1/memories/compile", {"json": {"subject_id": ""}}),
        ("post", "/v1/memories/compile", {"json": {"subject_id": "x", "async": "maybe"}}),
        ("post", "/v1/context", {"json": {"subject_id": "x", "task": ""}}),
        ("post", "/v1/context", {"json": {"subject_id": "x", "task": "t", "max_tokens": 0}}),
        ("post", "/v1/context", {"json": {"subject_id": "x"}}),
    ],
)
async def test_malformed_requests_are_422_envelopes(
    api: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, object]
) -> None:
    response = await getattr(api, method)(path, **kwargs)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_unknown_job_is_a_404_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/v1/memories/compile/{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Job not found or expired"


async def test_compile_where_memories_supersede_others_answers_200(
    api: httpx.AsyncClient,
) -> None:
    """Supersessions inside a compile must not break the response (bench finding B1)."""
    subject, headers = "restating", {"X-Tenant-ID": "restate"}
    first = [_message(subject, "user", "We're on the Enterprise plan and exports fail.")]
    await api.post("/v1/episodes/batch", json={"episodes": first}, headers=headers)
    assert (
        await api.post("/v1/memories/compile", json={"subject_id": subject}, headers=headers)
    ).status_code == 200
    later = [
        _message(subject, "user", "We're on the Team plan and exports fail."),
        _message(subject, "user", "We're on the Team plan and exports fail again."),
    ]
    await api.post("/v1/episodes/batch", json={"episodes": later}, headers=headers)
    response = await api.post("/v1/memories/compile", json={"subject_id": subject}, headers=headers)
    assert response.status_code == 200
    timeline = (
        await api.get("/v1/timeline", params={"subject_id": subject}, headers=headers)
    ).json()
    statuses = {m["content"]: m["status"] for m in timeline["memories"]}
    assert statuses["We're on the Enterprise plan and exports fail"] == "superseded"


async def test_a_text_another_subject_just_stored_reuses_its_vector(
    api: httpx.AsyncClient, engine: AsyncEngine, local_runtime: MemoryRuntime
) -> None:
    """The compile keeps recent memory texts' vectors; a copy stores the same vector."""
    headers, statement = {"X-Tenant-ID": "reuse"}, "We're on the Enterprise plan."
    cache, embedder = local_runtime.text_vectors, local_runtime.embedder
    assert cache is not None and embedder is not None
    for subject in ("reuse-a", "reuse-b"):
        batch = [_message(subject, "user", statement)]
        await api.post("/v1/episodes/batch", json={"episodes": batch}, headers=headers)
        compiled = await api.post(
            "/v1/memories/compile", json={"subject_id": subject}, headers=headers
        )
        assert compiled.status_code == 200
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                text(
                    "SELECT content, count(*), count(DISTINCT embedding::text) FROM memories "
                    "WHERE tenant_id = 'reuse' GROUP BY content"
                )
            )
        ).all()
    assert stored and all(copies == 2 and vectors == 1 for _, copies, vectors in stored)
    assert all(cache.get(embedder.model, content) is not None for content, _, _ in stored)
