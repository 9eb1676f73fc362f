"""The official SDK's async client, driven against a live server through every 0.6.1 method."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from statewave import (
    AsyncStatewaveClient,
    CompileJob,
    Handoff,
    Health,
    Resolution,
    SLASummary,
    StatewaveAPIError,
)
from statewave.client import NO_RETRY

from tests.fixtures.factories import new_id
from tests.sdk.conftest import (
    EXPECTED_FACTS,
    SESSION,
    AsyncClientFactory,
    conversation_batch,
    turn_payload,
)

pytestmark = pytest.mark.slow

TASK = "Help the customer with the failing CSV export"


async def _wait_for_job(client: AsyncStatewaveClient, job_id: str) -> CompileJob:
    async with asyncio.timeout(30):
        while True:
            job = await client.get_compile_status(job_id)
            if job.status in ("completed", "failed"):
                return job
            await asyncio.sleep(0.2)


async def test_memory_core_methods_end_to_end(
    async_client: AsyncStatewaveClient, subject: str
) -> None:
    client = async_client
    single = await client.create_episode(
        subject,
        "user",
        "message",
        turn_payload("user", "Hello again"),
        metadata={"channel": "chat"},
        provenance={"ticket": "T-9"},
        session_id=SESSION,
        idempotency_key="hello-1",
    )
    assert isinstance(single.id, uuid.UUID)
    assert (single.subject_id, single.source, single.type) == (subject, "user", "message")
    assert (single.metadata, single.provenance) == ({"channel": "chat"}, {"ticket": "T-9"})
    replay = await client.create_episode(
        subject,
        "user",
        "message",
        turn_payload("user", "Hello again"),
        metadata={"channel": "chat"},
        provenance={"ticket": "T-9"},
        session_id=SESSION,
        idempotency_key="hello-1",
    )
    assert replay.id == single.id
    with pytest.raises(StatewaveAPIError) as reused:  # the same key for other content
        await client.create_episode(
            subject, "user", "message", turn_payload("user", "Bye"), idempotency_key="hello-1"
        )
    assert (reused.value.status_code, reused.value.code) == (409, "idempotency_conflict")

    batch = await client.create_episodes_batch(conversation_batch(subject))
    assert batch.episodes_created == 4 == len(batch.episodes)
    assert {e.subject_id for e in batch.episodes} == {subject}

    compiled = await client.compile_memories(subject)
    assert compiled.subject_id == subject
    assert (
        compiled.memories_created == len(compiled.memories) == 11
    )  # 5 summaries, 4 facts, 2 digests
    facts = {m.content: m for m in compiled.memories if m.kind == "profile_fact"}
    assert set(facts) == EXPECTED_FACTS
    assert facts["I work at Globex"].source_episode_ids == [batch.episodes[0].id]
    assert (await client.compile_memories(subject)).memories_created == 0

    await client.create_episode(
        subject, "user", "message", turn_payload("user", "I live in Lisbon.")
    )
    job = await client.compile_memories_async(subject)
    assert (job.status, job.subject_id) == ("pending", subject)
    done = await _wait_for_job(client, job.job_id)
    assert (done.status, done.job_id, done.memories_created) == ("completed", job.job_id, 2)
    assert "I live in Lisbon" in {m.content for m in done.memories}

    await client.create_episode(subject, "user", "message", turn_payload("user", "I use Vim."))
    waited = await client.compile_memories_wait(subject, poll_interval=0.2, timeout=30)
    assert (waited.status, waited.subject_id, waited.memories_created) == (
        "completed",
        subject,
        2,
    )

    found = await client.search_memories(subject, kind="profile_fact", query="Globex")
    assert [m.content for m in found.memories] == ["I work at Globex"]
    semantic = await client.search_memories(
        subject, kind="profile_fact", query="Which city does she live in?", semantic=True
    )
    assert semantic.memories[0].content == "I live in Lisbon"

    bundle = await client.get_context(subject, TASK, max_tokens=1500, session_id=SESSION)
    assert (bundle.subject_id, bundle.task) == (subject, TASK)
    assert {m.content for m in bundle.facts} >= EXPECTED_FACTS
    assert set(bundle.provenance["fact_ids"]) == {
        str(m.id) for m in bundle.facts if m.kind == "profile_fact"
    }
    assert 0 < bundle.token_estimate <= 1500
    text = await client.get_context_string(subject, TASK)
    assert text.startswith(f"## Task\n{TASK}\n") and "- I work at Globex" in text

    timeline = await client.get_timeline(subject)
    assert len(timeline.episodes) == 7 and len(timeline.memories) == 15
    assert (timeline.episodes_has_more, timeline.memories_has_more) == (False, False)
    page = await client.get_timeline(subject, limit=5, offset=1, newest_first=False)
    assert [e.id for e in page.episodes] == [e.id for e in timeline.episodes[1:6]]
    assert (page.episodes_has_more, page.memories_has_more) == (True, True)

    listed = await client.list_subjects(limit=10)
    assert listed.total == 1
    assert [(s.subject_id, s.episode_count, s.memory_count) for s in listed.subjects] == [
        (subject, 7, 15)
    ]

    deleted = await client.delete_subject(subject)
    assert (deleted.subject_id, deleted.episodes_deleted, deleted.memories_deleted) == (
        subject,
        7,
        15,
    )
    assert (await client.list_subjects()).total == 0


async def test_support_methods_end_to_end(async_client: AsyncStatewaveClient, subject: str) -> None:
    client = async_client
    assert await client.get_health(subject) == Health(
        subject_id=subject, score=100, state="healthy", factors=[]
    )

    await client.create_episode(
        subject, "user", "message", turn_payload("user", "Export broken again"), session_id="s1"
    )
    await asyncio.sleep(0.05)
    await client.create_episode(
        subject, "agent", "message", turn_payload("assistant", "On it"), session_id="s1"
    )
    opened = await client.create_resolution(subject, "s1", metadata={"queue": "billing"})
    assert isinstance(opened, Resolution)
    assert (opened.status, opened.resolved_at, opened.metadata) == (
        "open",
        None,
        {"queue": "billing"},
    )

    health = await client.get_health(subject)
    assert [(f.signal, f.impact) for f in health.factors] == [
        ("unresolved_issues", -15),
        ("escalations", -10),
    ]
    assert (health.score, health.state) == (75, "healthy")

    resolved = await client.create_resolution(
        subject, "s1", status="resolved", resolution_summary="Rebuilt the export index"
    )
    assert (resolved.id, resolved.status) == (opened.id, "resolved")
    assert resolved.resolved_at is not None
    assert [r.id for r in await client.list_resolutions(subject, status="resolved")] == [opened.id]
    assert await client.list_resolutions(subject, status="open") == []

    sla = await client.get_sla(subject, first_response_threshold_minutes=10)
    assert isinstance(sla, SLASummary)
    assert (sla.total_sessions, sla.resolved_sessions, sla.open_sessions) == (1, 1, 0)
    (session,) = sla.sessions
    assert (session.session_id, session.status) == ("s1", "resolved")
    assert session.first_response_seconds is not None and session.first_response_seconds > 0
    assert not session.first_response_breached

    await client.create_episode(
        subject, "user", "message", turn_payload("user", "New problem: invoices"), session_id="s2"
    )
    handoff = await client.create_handoff(subject, "s2", reason="shift change")
    assert isinstance(handoff, Handoff)
    assert (handoff.subject_id, handoff.session_id, handoff.reason) == (
        subject,
        "s2",
        "shift change",
    )
    assert "invoices" in handoff.active_issue
    assert [(r.session_id, r.status, r.summary) for r in handoff.resolution_history] == [
        ("s1", "resolved", "Rebuilt the export index")
    ]
    assert handoff.handoff_notes.startswith(f"# Handoff Brief — {subject}")
    assert handoff.health_state in ("healthy", "watch", "at_risk")
    assert handoff.token_estimate > 0


async def test_concurrent_tenants_are_isolated(make_async_client: AsyncClientFactory) -> None:
    tenants = [new_id("tenant") for _ in range(3)]
    clients = [make_async_client(t) for t in tenants]
    subject = "same-subject"

    async def fill(client: AsyncStatewaveClient, name: str) -> None:
        await client.create_episode(
            subject, "user", "message", turn_payload("user", f"My name is {name}.")
        )
        await client.compile_memories(subject)

    names = ["Ann Lee", "Bo Park", "Cy Diaz"]
    await asyncio.gather(*(fill(c, n) for c, n in zip(clients, names, strict=True)))
    for client, name in zip(clients, names, strict=True):
        found = await client.search_memories(subject, kind="profile_fact")
        assert [m.content for m in found.memories] == [f"My name is {name}"]
        assert (await client.list_subjects()).total == 1

    job = await clients[0].compile_memories_async(subject)
    stranger = make_async_client(tenants[1], retry=NO_RETRY)
    with pytest.raises(StatewaveAPIError) as caught:
        await stranger.get_compile_status(job.job_id)
    assert (caught.value.status_code, caught.value.code) == (404, "job_not_found")
    assert (await _wait_for_job(clients[0], job.job_id)).status == "completed"
