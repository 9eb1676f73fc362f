"""Property tests: whatever the candidates, the budget holds and the bookkeeping is true."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statewave_server.services.compiler.digest import SEPARATOR
from statewave_server.services.compiler.drafts import DIGEST_FORM
from statewave_server.services.context import (
    AssembledContext,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
    assemble_context,
)
from statewave_server.services.context.assemble import is_relevant_turn
from statewave_server.services.context.render import (
    episode_line,
    is_temporal,
    memory_line,
    short_date,
    turn_line,
)
from statewave_server.services.context.repeats import keywords
from statewave_server.services.tokens import count_tokens

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SESSIONS = ["s1", "s2", "s3", "session-" + "x" * 120]
WORDS = [
    "export", "fails", "the", "ok", "Python", "## Task", "user:", "→", "日本語", "p1", "\n",
    "When", "ago", "Mel:", "Sure.",
]  # fmt: skip


def _whitespace_count(text: str) -> int:
    return len(text.split())


def _blank_lines_are_expensive(text: str) -> int:
    """Not additive: blank lines only appear where chunks meet, so estimates undercount."""
    return len(text.split()) + 3 * text.count("\n\n")


COUNTERS: list[Callable[[str], int]] = [count_tokens, _whitespace_count, _blank_lines_are_expensive]

texts = st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)
ages = st.floats(min_value=0, max_value=1000)
relevances = st.none() | st.just(0.0) | st.floats(min_value=0, max_value=1)


@st.composite
def episodes(draw: st.DrawFn) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=uuid.uuid4(),
        source=draw(st.sampled_from(["user", "assistant", "tool"])),
        type=draw(st.sampled_from(["message", "action"])),
        text=draw(texts),
        created_at=NOW - timedelta(days=draw(ages)),
        session_id=draw(st.sampled_from([None, *SESSIONS])),
        relevance=draw(relevances),
    )


@st.composite
def memories(draw: st.DrawFn, episode_ids: list[uuid.UUID]) -> MemoryCandidate:
    created = NOW - timedelta(days=draw(ages))
    valid_to = draw(st.sampled_from([None, NOW - timedelta(days=1), NOW + timedelta(days=1)]))
    sources = (
        draw(st.lists(st.sampled_from(episode_ids), max_size=4, unique=True)) if episode_ids else []
    )
    kind = draw(st.sampled_from(["profile_fact", "procedure", "episode_summary", "artifact_ref"]))
    digest = kind == "episode_summary" and len(sources) >= 2 and draw(st.booleans())
    content = draw(texts)
    if digest:  # one gist per source turn, as the heuristic compiler writes them
        content = SEPARATOR.join(draw(texts.filter(bool)) for _ in sources)
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind=kind,
        content=content,
        summary=content if digest else draw(texts),
        metadata={"form": DIGEST_FORM} if digest else {},
        relevance=draw(relevances),
        created_at=created,
        valid_from=created,
        valid_to=valid_to,
        source_episode_ids=tuple(sources),
        breadcrumb=draw(st.none() | texts),
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[str, int, list[MemoryCandidate], list[EpisodeCandidate], SessionState, str | None]:
    eps = draw(st.lists(episodes(), max_size=20))
    mems = draw(st.lists(memories([e.id for e in eps]), max_size=20))
    resolved = draw(st.sets(st.sampled_from(SESSIONS)))
    state = SessionState(
        resolved_session_ids=frozenset(resolved),
        open_session_ids=frozenset(draw(st.sets(st.sampled_from(SESSIONS)))) - resolved,
        resolution_summaries={s: draw(texts) for s in resolved},
    )
    task = draw(texts.filter(bool))
    return (
        task,
        draw(st.integers(1, 400)),
        mems,
        eps,
        state,
        draw(st.sampled_from([None, *SESSIONS])),
    )


def _check(
    result: AssembledContext,
    task: str,
    budget: int,
    counter: Callable[[str], int],
    candidates: list[EpisodeCandidate],
    current: str | None,
) -> None:
    text = result.assembled_context
    assert result.token_estimate == counter(text)
    assert result.token_estimate <= budget or text == f"## Task\n{task}\n"
    prov = result.provenance
    all_ids = [*prov.fact_ids, *prov.summary_ids, *prov.procedure_ids, *prov.episode_ids]
    assert len(all_ids) == len(set(all_ids))
    assert [m.id for m in result.facts] == [*prov.fact_ids, *prov.summary_ids]
    assert [m.id for m in result.procedures] == list(prov.procedure_ids)
    assert [e.id for e in result.episodes] == list(prov.episode_ids)
    assert all(m.kind == "profile_fact" for m in result.facts[: len(prov.fact_ids)])
    assert all(m.kind == "procedure" for m in result.procedures)
    words, dated = keywords([task]), is_temporal(task)
    turns = {e.id for e in candidates if is_relevant_turn(e)}
    carried: set[uuid.UUID] = set()  # summaries are taken in rank order: earlier ones hide
    for m in result.facts[len(prov.fact_ids) :]:
        assert m.kind == "episode_summary"
        hidden = frozenset(carried & set(m.source_episode_ids))
        assert memory_line(m, "summaries", words, dated=dated, hidden=hidden) in text
        assert not set(m.source_episode_ids) & set(prov.episode_ids) - hidden
        assert not set(m.source_episode_ids) & turns  # a shown turn's summary only repeats it
        carried |= set(m.source_episode_ids)
    for m in result.facts[: len(prov.fact_ids)] + result.procedures:
        assert memory_line(m, "facts") in text
    for e in result.episodes:
        if e.id in turns and e.session_id == current and current is not None:
            assert turn_line(e, words) in text.split(f"### Current session ({current})\n")[1]
        elif e.id in turns:  # shown whole, under the heading of its day
            day = text.split(f"### {short_date(e.created_at)}\n", 1)
            assert len(day) == 2 and turn_line(e, words) in day[1]
        else:
            assert episode_line(e) in text
    counts = {s.session_id: s.episode_count for s in result.sessions}
    for session_id, count in counts.items():
        assert count == sum(1 for e in result.episodes if e.session_id == session_id)
    assert set(counts) == {e.session_id for e in result.episodes if e.session_id}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), counter=st.sampled_from(COUNTERS))
def test_budget_is_never_exceeded_and_bookkeeping_is_true(
    scenario: tuple[
        str, int, list[MemoryCandidate], list[EpisodeCandidate], SessionState, str | None
    ],
    counter: Callable[[str], int],
) -> None:
    task, budget, mems, eps, state, current = scenario
    result = assemble_context(task, budget, mems, eps, state, current, counter, NOW)
    _check(result, task, budget, counter, eps, current)


@settings(max_examples=50, deadline=None)
@given(scenario=scenarios())
def test_assembly_is_deterministic(
    scenario: tuple[
        str, int, list[MemoryCandidate], list[EpisodeCandidate], SessionState, str | None
    ],
) -> None:
    task, budget, mems, eps, state, current = scenario
    first = assemble_context(task, budget, mems, eps, state, current, count_tokens, NOW)
    again = assemble_context(task, budget, mems, eps, state, current, count_tokens, NOW)
    assert first == again
