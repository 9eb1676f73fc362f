"""The official SDK's sync client, driven against a live server through every 0.6.1 method.

Every assertion is on the SDK's parsed models: if a field the SDK reads were missing or
mistyped on the wire, the call itself would fail (pydantic validation in the SDK).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from statewave import (
    BatchCreateResult,
    CompileJob,
    CompileResult,
    ContextBundle,
    DeleteResult,
    Episode,
    Handoff,
    Health,
    ListSubjectsResult,
    Memory,
    Resolution,
    SearchResult,
    SLASummary,
    StatewaveAPIError,
    StatewaveClient,
    Timeline,
)
from statewave.client import NO_RETRY

from tests.fixtures.factories import new_id
from tests.sdk.conftest import (
    EXPECTED_FACTS,
    SESSION,
    ClientFactory,
    conversation_batch,
    turn_payload,
)

pytestmark = pytest.mark.slow

TASK = "Help the customer with the failing CSV export"


def _recent(moment: datetime) -> bool:
    assert moment.tzinfo is not None, "timestamps must be timezone-aware"
    return abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


def _ingest(client: StatewaveClient, subject: str) -> list[Episode]:
    result = client.create_episodes_batch(conversation_batch(subject))
    return result.episodes


def _ingest_and_compile(
    client: StatewaveClient, subject: str
) -> tuple[list[Episode], list[Memory]]:
    episodes = _ingest(client, subject)
    return episodes, client.compile_memories(subject).memories


def _facts(memories: list[Memory]) -> dict[str, Memory]:
    return {m.content: m for m in memories if m.kind == "profile_fact"}


def _wait_for_job(client: StatewaveClient, job_id: str, timeout: float = 30.0) -> CompileJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_compile_status(job_id)
        if job.status in ("completed", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


# -- Episodes ----------------------------------------------------------------------------


def test_create_episode_returns_the_stored_episode(client: StatewaveClient, subject: str) -> None:
    episode = client.create_episode(
        subject,
        "user",
        "message",
        turn_payload("user", "Hello there"),
        metadata={"channel": "chat"},
        provenance={"ticket": "T-1"},
        session_id=SESSION,
    )
    assert isinstance(episode, Episode)
    assert isinstance(episode.id, uuid.UUID)
    assert episode.subject_id == subject
    assert (episode.source, episode.type) == ("user", "message")
    assert episode.payload == turn_payload("user", "Hello there")
    assert episode.metadata == {"channel": "chat"}
    assert episode.provenance == {"ticket": "T-1"}
    assert episode.occurred_at is not None and _recent(episode.occurred_at)
    assert _recent(episode.created_at)


def test_create_episode_with_an_idempotency_key_is_stored_once(
    client: StatewaveClient, subject: str
) -> None:
    first = client.create_episode(
        subject, "import", "note", {"text": "backfilled"}, idempotency_key="row-17"
    )
    again = client.create_episode(
        subject, "import", "note", {"text": "backfilled"}, idempotency_key="row-17"
    )
    assert again.id == first.id
    assert [e.id for e in client.get_timeline(subject).episodes] == [first.id]


def test_create_episodes_batch_keeps_order_subjects_and_provenance(
    client: StatewaveClient, subject: str
) -> None:
    other = new_id("other")
    items = [*conversation_batch(subject), {**conversation_batch(other)[0], "metadata": {"k": 1}}]
    result = client.create_episodes_batch(items)
    assert isinstance(result, BatchCreateResult)
    assert result.episodes_created == 5 == len(result.episodes)
    assert [e.subject_id for e in result.episodes] == [subject] * 4 + [other]
    assert [e.provenance for e in result.episodes] == [{"turn": i} for i in range(4)] + [
        {"turn": 0}
    ]
    assert [e.source for e in result.episodes[:4]] == ["user", "assistant", "user", "user"]
    assert result.episodes[4].metadata == {"k": 1}
    assert len({e.id for e in result.episodes}) == 5


# -- Compilation ---------------------------------------------------------------------------


def test_compile_memories_extracts_the_customers_facts_with_provenance(
    client: StatewaveClient, subject: str
) -> None:
    episodes = _ingest(client, subject)
    result = client.compile_memories(subject)
    assert isinstance(result, CompileResult)
    assert result.subject_id == subject
    assert result.memories_created == len(result.memories) == 9  # 4 summaries, 4 facts, 1 digest

    facts = _facts(result.memories)
    assert set(facts) == EXPECTED_FACTS  # nothing from the agent ("I'm Sam")
    by_text = {e.payload["messages"][0]["content"]: e.id for e in episodes}
    assert facts["I work at Globex"].source_episode_ids == [
        by_text["Hi, my name is Alice Chen and I work at Globex."]
    ]
    assert facts["I use Firefox on Windows"].source_episode_ids == [
        by_text["I use Firefox on Windows."]
    ]
    # One summary per turn; the session's digest cites several turns.
    summaries = [m for m in result.memories if m.kind == "episode_summary"]
    single = [m for m in summaries if len(m.source_episode_ids) == 1]
    assert sorted(i for m in single for i in m.source_episode_ids) == sorted(e.id for e in episodes)
    assert [len(m.source_episode_ids) for m in summaries if m not in single] == [3]
    for memory in result.memories:
        assert memory.subject_id == subject
        assert memory.status == "active"
        assert memory.valid_to is None
        assert memory.confidence == (0.6 if memory.kind == "profile_fact" else 0.8)
        digest = len(memory.source_episode_ids) > 1
        assert memory.metadata == {
            "compiler": "heuristic",
            **({"form": "digest"} if digest else {}),
        }
        assert _recent(memory.created_at) and _recent(memory.valid_from)

    again = client.compile_memories(subject)
    assert (again.subject_id, again.memories_created, again.memories) == (subject, 0, [])


def test_compile_memories_async_and_get_compile_status(
    client: StatewaveClient, subject: str
) -> None:
    _ingest(client, subject)
    job = client.compile_memories_async(subject)
    assert isinstance(job, CompileJob)
    assert job.subject_id == subject
    assert job.status == "pending"
    assert job.job_id and job.memories_created == 0 and job.error is None

    done = _wait_for_job(client, job.job_id)
    assert done.status == "completed", done
    assert done.job_id == job.job_id and done.subject_id == subject
    assert done.memories_created == len(done.memories) == 9  # 4 summaries, 4 facts, 1 digest
    assert set(_facts(done.memories)) == EXPECTED_FACTS
    assert done.error is None
    # Read again later: still completed, same memories.
    assert client.get_compile_status(job.job_id).memories == done.memories


def test_compile_memories_wait_returns_the_completed_job(
    client: StatewaveClient, subject: str
) -> None:
    _ingest_and_compile(client, subject)
    client.create_episode(subject, "user", "message", turn_payload("user", "I live in Berlin."))
    job = client.compile_memories_wait(subject, poll_interval=0.2, timeout=30)
    assert job.status == "completed"
    assert job.subject_id == subject
    assert job.memories_created == 2
    assert sorted(m.kind for m in job.memories) == ["episode_summary", "profile_fact"]
    assert "I live in Berlin" in _facts(job.memories)


# -- Search and context ----------------------------------------------------------------------


def test_search_memories_by_kind_text_and_meaning(client: StatewaveClient, subject: str) -> None:
    _ingest_and_compile(client, subject)

    by_kind = client.search_memories(subject, kind="profile_fact")
    assert isinstance(by_kind, SearchResult)
    assert {m.content for m in by_kind.memories} == EXPECTED_FACTS
    assert all(m.kind == "profile_fact" and m.subject_id == subject for m in by_kind.memories)

    text = client.search_memories(subject, query="globex")
    assert text.memories, "a case-insensitive text search must find Globex"
    assert all("globex" in m.content.lower() for m in text.memories)
    assert {m.kind for m in text.memories} == {"profile_fact", "episode_summary"}

    only_facts = client.search_memories(subject, kind="profile_fact", query="Globex")
    assert [m.content for m in only_facts.memories] == ["I work at Globex"]

    assert len(client.search_memories(subject, limit=1).memories) == 1

    semantic = client.search_memories(
        subject, kind="profile_fact", query="Which web browser does she run?", semantic=True
    )
    assert semantic.memories, "semantic search must return the nearest memories"
    assert semantic.memories[0].content == "I use Firefox on Windows"

    assert client.search_memories(new_id("nobody")).memories == []


def test_get_context_bundles_facts_with_provenance(client: StatewaveClient, subject: str) -> None:
    _ingest_and_compile(client, subject)
    bundle = client.get_context(subject, TASK, max_tokens=1000, session_id=SESSION)
    assert isinstance(bundle, ContextBundle)
    assert (bundle.subject_id, bundle.task) == (subject, TASK)
    assert {m.content for m in bundle.facts} >= EXPECTED_FACTS
    assert {m.subject_id for m in bundle.facts} == {subject}

    provenance = bundle.provenance
    fact_ids = {str(m.id) for m in bundle.facts if m.kind == "profile_fact"}
    summary_ids = {str(m.id) for m in bundle.facts if m.kind == "episode_summary"}
    assert set(provenance["fact_ids"]) == fact_ids
    assert set(provenance["summary_ids"]) == summary_ids
    assert set(provenance["procedure_ids"]) == {str(m.id) for m in bundle.procedures}
    assert set(provenance["episode_ids"]) == {str(e.id) for e in bundle.episodes}

    context = bundle.assembled_context
    assert context.startswith(f"## Task\n{TASK}\n")
    assert "## About this user" in context
    for fact in EXPECTED_FACTS:
        assert f"- {fact}" in context
    assert "I'm Sam" not in context.split("## About this user")[1].split("\n\n")[0]
    assert 0 < bundle.token_estimate <= 1000
    assert bundle.receipt_id is None and bundle.receipt_emitted is False


def test_get_context_string_is_the_assembled_context(client: StatewaveClient, subject: str) -> None:
    _ingest_and_compile(client, subject)
    text = client.get_context_string(subject, TASK)
    assert text == client.get_context(subject, TASK).assembled_context
    assert "my name is Alice Chen" in text and "I work at Globex" in text

    tight = client.get_context(subject, TASK, max_tokens=40)
    assert tight.token_estimate <= 40
    assert client.get_context_string(subject, TASK, max_tokens=40) == tight.assembled_context
    assert len(tight.assembled_context) < len(text)


# -- Timeline, subjects ----------------------------------------------------------------------


def test_get_timeline_pages_and_reports_has_more(client: StatewaveClient, subject: str) -> None:
    episodes, memories = _ingest_and_compile(client, subject)
    full = client.get_timeline(subject)
    assert isinstance(full, Timeline)
    assert full.subject_id == subject
    assert {e.id for e in full.episodes} == {e.id for e in episodes}
    assert {m.id for m in full.memories} == {m.id for m in memories}
    assert (full.episodes_has_more, full.memories_has_more) == (False, False)
    times = [e.occurred_at for e in full.episodes]
    assert times == sorted(times), "rows within a page are ascending in time"

    newest = client.get_timeline(subject, limit=3)
    assert len(newest.episodes) == 3 and len(newest.memories) == 3
    assert (newest.episodes_has_more, newest.memories_has_more) == (True, True)
    assert [e.id for e in newest.episodes] == [e.id for e in full.episodes[-3:]]

    oldest = client.get_timeline(subject, limit=3, newest_first=False)
    assert [e.id for e in oldest.episodes] == [e.id for e in full.episodes[:3]]
    assert oldest.episodes_has_more is True

    tail = client.get_timeline(subject, limit=3, offset=3)
    assert [e.id for e in tail.episodes] == [full.episodes[0].id]
    assert tail.episodes_has_more is False
    assert len(tail.memories) == 3 and tail.memories_has_more is True


def test_list_subjects_counts_and_pages_within_the_tenant(client: StatewaveClient) -> None:
    subjects = sorted(new_id(p) for p in ("a", "b", "c"))
    for index, subject_id in enumerate(subjects):
        for n in range(index + 1):
            client.create_episode(subject_id, "user", "message", {"text": f"note {n}"})
    client.compile_memories(subjects[0])

    page = client.list_subjects()
    assert isinstance(page, ListSubjectsResult)
    assert page.total == 3
    assert [(s.subject_id, s.episode_count, s.memory_count) for s in page.subjects] == [
        (subjects[0], 1, 1),
        (subjects[1], 2, 0),
        (subjects[2], 3, 0),
    ]
    first = client.list_subjects(limit=2)
    rest = client.list_subjects(limit=2, offset=2)
    assert [s.subject_id for s in first.subjects] == subjects[:2]
    assert [s.subject_id for s in rest.subjects] == subjects[2:]
    assert first.total == rest.total == 3


def test_delete_subject_removes_everything_of_the_subject(
    client: StatewaveClient, subject: str
) -> None:
    _ingest_and_compile(client, subject)
    keep = new_id("keep")
    client.create_episode(keep, "user", "message", {"text": "stay"})

    result = client.delete_subject(subject)
    assert isinstance(result, DeleteResult)
    assert (result.subject_id, result.episodes_deleted, result.memories_deleted) == (
        subject,
        4,
        9,  # 4 summaries, 4 facts, 1 digest
    )
    timeline = client.get_timeline(subject)
    assert (timeline.episodes, timeline.memories) == ([], [])
    assert client.search_memories(subject).memories == []
    assert [s.subject_id for s in client.list_subjects().subjects] == [keep]

    again = client.delete_subject(subject)
    assert (again.episodes_deleted, again.memories_deleted) == (0, 0)


# -- Tenants -----------------------------------------------------------------------------------


def test_two_tenants_never_see_each_others_data(make_client: ClientFactory) -> None:
    acme = make_client(new_id("acme"))
    umbrella_tenant = new_id("umbrella")
    umbrella = make_client(umbrella_tenant)
    subject = "shared-subject-id"
    _ingest(acme, subject)
    job = acme.compile_memories_async(subject)
    assert _wait_for_job(acme, job.job_id).status == "completed"

    # The other tenant sees nothing of it under the same subject id.
    assert umbrella.get_timeline(subject).episodes == []
    assert umbrella.list_subjects().total == 0
    assert umbrella.search_memories(subject, query="Globex").memories == []
    assert umbrella.get_context(subject, TASK).facts == []
    with pytest.raises(StatewaveAPIError) as caught:
        make_client(umbrella_tenant, retry=NO_RETRY).get_compile_status(job.job_id)
    assert (caught.value.status_code, caught.value.code) == (404, "job_not_found")

    # Its own data stays its own.
    umbrella.create_episode(subject, "user", "message", {"text": "My name is Bob Stone."})
    assert umbrella.compile_memories(subject).memories_created == 2
    assert set(_facts(umbrella.search_memories(subject).memories)) == {"My name is Bob Stone"}
    assert set(_facts(acme.search_memories(subject).memories)) == EXPECTED_FACTS

    deleted = umbrella.delete_subject(subject)
    assert (deleted.episodes_deleted, deleted.memories_deleted) == (1, 2)
    assert len(acme.get_timeline(subject).episodes) == 4
    assert acme.list_subjects().total == 1

    # No tenant header is the default tenant: a third, separate space.
    assert make_client(None).get_timeline(subject).episodes == []


# -- Support: resolutions, health, SLA, handoff ---------------------------------------------


def test_create_resolution_upserts_by_session(client: StatewaveClient, subject: str) -> None:
    opened = client.create_resolution(subject, "s1")
    assert isinstance(opened, Resolution)
    assert isinstance(opened.id, uuid.UUID)
    assert (opened.subject_id, opened.session_id, opened.status) == (subject, "s1", "open")
    assert opened.resolved_at is None and opened.resolution_summary is None
    assert opened.metadata == {}
    assert _recent(opened.created_at) and _recent(opened.updated_at)

    resolved = client.create_resolution(
        subject,
        "s1",
        status="resolved",
        resolution_summary="Cleared the export cache",
        metadata={"agent": "sam"},
    )
    assert resolved.id == opened.id
    assert resolved.status == "resolved"
    assert resolved.resolution_summary == "Cleared the export cache"
    assert resolved.metadata == {"agent": "sam"}
    assert resolved.resolved_at is not None and _recent(resolved.resolved_at)
    assert resolved.updated_at >= opened.updated_at
    assert resolved.created_at == opened.created_at

    reopened = client.create_resolution(subject, "s1", status="unresolved")
    assert reopened.id == opened.id
    assert (reopened.status, reopened.resolved_at) == ("unresolved", None)


def test_list_resolutions_filters_and_pages_newest_first(
    client: StatewaveClient, make_client: ClientFactory, subject: str
) -> None:
    client.create_resolution(subject, "s1")
    client.create_resolution(subject, "s2")
    client.create_resolution(subject, "s1", status="resolved", resolution_summary="fixed")
    client.create_resolution(new_id("other"), "s9")

    listed = client.list_resolutions(subject)
    assert all(isinstance(r, Resolution) for r in listed)
    assert [(r.session_id, r.status) for r in listed] == [("s1", "resolved"), ("s2", "open")]
    assert {r.subject_id for r in listed} == {subject}
    assert [r.session_id for r in client.list_resolutions(subject, status="open")] == ["s2"]
    assert [r.session_id for r in client.list_resolutions(subject, status="resolved")] == ["s1"]
    assert client.list_resolutions(subject, status="unresolved") == []
    assert [r.session_id for r in client.list_resolutions(subject, limit=1)] == ["s1"]
    assert [r.session_id for r in client.list_resolutions(subject, limit=1, offset=1)] == ["s2"]
    assert make_client(new_id("stranger")).list_resolutions(subject) == []


def test_get_health_scores_open_issues_and_urgency(client: StatewaveClient, subject: str) -> None:
    fresh = client.get_health(subject)
    assert isinstance(fresh, Health)
    assert (fresh.subject_id, fresh.score, fresh.state, fresh.factors) == (
        subject,
        100,
        "healthy",
        [],
    )

    client.create_episode(
        subject,
        "user",
        "message",
        turn_payload("user", "This is urgent: the export is down for the whole team."),
        session_id="s1",
    )
    for session_id in ("s1", "s2", "s3"):
        client.create_resolution(subject, session_id)

    health = client.get_health(subject)
    assert health.subject_id == subject
    impacts = {f.signal: f.impact for f in health.factors}
    assert impacts == {"unresolved_issues": -45, "escalations": -10}
    assert [f.signal for f in health.factors] == ["unresolved_issues", "escalations"]
    assert "3" in health.factors[0].detail and "1" in health.factors[1].detail
    assert health.score == 45
    assert health.state == "watch"


def test_get_sla_measures_sessions_and_breaches(client: StatewaveClient, subject: str) -> None:
    client.create_episode(
        subject, "user", "message", turn_payload("user", "Export fails"), session_id="s1"
    )
    time.sleep(0.05)
    client.create_episode(
        subject, "assistant", "message", turn_payload("assistant", "Looking now"), session_id="s1"
    )
    client.create_resolution(subject, "s1", status="resolved", resolution_summary="fixed")
    client.create_episode(
        subject, "user", "message", turn_payload("user", "Still here?"), session_id="s2"
    )
    client.create_resolution(subject, "s2")

    sla = client.get_sla(subject)
    assert isinstance(sla, SLASummary)
    assert sla.subject_id == subject
    assert (sla.total_sessions, sla.resolved_sessions, sla.open_sessions) == (2, 1, 1)
    assert [s.session_id for s in sla.sessions] == ["s1", "s2"]
    s1, s2 = sla.sessions
    assert s1.status == "resolved"
    assert s1.first_message_at and s1.first_response_at and s1.resolved_at
    assert s1.first_response_seconds is not None and 0 < s1.first_response_seconds < 60
    assert s1.resolution_seconds is not None and 0 < s1.resolution_seconds < 60
    assert not s1.first_response_breached and not s1.resolution_breached
    assert s2.status == "open"
    assert s2.first_message_at and s2.first_response_at is None
    assert s2.first_response_seconds is None and s2.resolution_seconds is None
    assert s2.open_duration_seconds is not None and s2.open_duration_seconds >= 0
    assert sla.avg_first_response_seconds == pytest.approx(s1.first_response_seconds)
    assert sla.avg_resolution_seconds == pytest.approx(s1.resolution_seconds)
    assert (sla.first_response_breach_count, sla.resolution_breach_count) == (0, 0)

    strict = client.get_sla(
        subject, first_response_threshold_minutes=0, resolution_threshold_hours=0
    )
    assert (strict.first_response_breach_count, strict.resolution_breach_count) == (1, 1)
    assert strict.sessions[0].first_response_breached and strict.sessions[0].resolution_breached


def test_create_handoff_builds_the_escalation_brief(client: StatewaveClient, subject: str) -> None:
    client.create_episode(
        subject,
        "user",
        "message",
        turn_payload("user", "Password reset mail never arrived"),
        session_id="old-session",
    )
    client.create_resolution(
        subject, "old-session", status="resolved", resolution_summary="Whitelisted our mailer"
    )
    _ingest_and_compile(client, subject)

    handoff = client.create_handoff(subject, SESSION, reason="tier-2 escalation")
    assert isinstance(handoff, Handoff)
    assert (handoff.subject_id, handoff.session_id, handoff.reason) == (
        subject,
        SESSION,
        "tier-2 escalation",
    )
    assert _recent(handoff.generated_at)
    assert set(handoff.key_facts) >= EXPECTED_FACTS
    assert handoff.customer_summary.startswith(subject)
    assert "Alice Chen" in handoff.active_issue or "CSV export" in handoff.active_issue
    assert any("Which browser" in step for step in handoff.attempted_steps)
    assert [(r.session_id, r.status, r.summary) for r in handoff.resolution_history] == [
        ("old-session", "resolved", "Whitelisted our mailer")
    ]
    assert handoff.resolution_history[0].resolved_at is not None
    assert any("Password reset" in line for line in handoff.recent_context)
    assert handoff.health_score is not None and 0 <= handoff.health_score <= 100
    assert handoff.health_state in ("healthy", "watch", "at_risk")
    notes = handoff.handoff_notes
    assert notes.startswith(f"# Handoff Brief — {subject}")
    assert "tier-2 escalation" in notes and "I work at Globex" in notes
    assert handoff.token_estimate > 0
    assert handoff.receipt_id is None and handoff.receipt_emitted is False

    default = client.create_handoff(subject, SESSION, max_tokens=30)
    assert default.reason == "escalation"
    assert 0 < default.token_estimate <= 30
