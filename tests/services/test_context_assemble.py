"""End-to-end context assembly on hand-built candidates, with the real cl100k counter."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from statewave_server.services.context import (
    AssembledContext,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
    assemble_context,
)
from statewave_server.services.tokens import count_tokens

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BIG = 100_000


def mem(
    content: str,
    kind: str = "profile_fact",
    age_days: float = 1.0,
    sources: tuple[uuid.UUID, ...] = (),
    **signals: object,
) -> MemoryCandidate:
    created = NOW - timedelta(days=age_days)
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind=kind,
        content=content,
        summary=content,
        created_at=created,
        valid_from=created,
        source_episode_ids=sources,
        **signals,  # type: ignore[arg-type]
    )


def ep(
    text: str, session_id: str | None = None, age_minutes: float = 10, source: str = "user"
) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=uuid.uuid4(),
        source=source,
        type="message",
        text=text,
        created_at=NOW - timedelta(minutes=age_minutes),
        session_id=session_id,
    )


def assemble(
    task: str = "Help with the failing export",
    memories: list[MemoryCandidate] | None = None,
    episodes: list[EpisodeCandidate] | None = None,
    max_tokens: int = BIG,
    sessions: SessionState | None = None,
    current: str | None = None,
) -> AssembledContext:
    return assemble_context(
        task=task,
        max_tokens=max_tokens,
        memories=memories or [],
        episodes=episodes or [],
        session_state=sessions or SessionState(),
        current_session_id=current,
        count_tokens=count_tokens,
        now=NOW,
    )


def test_renders_the_reference_example_exactly() -> None:
    facts = [mem("I use Python"), mem("My name is Alice Chen"), mem("I work at Globex")]
    summaries = [
        mem("ok", kind="episode_summary"),
        mem(
            "user: My name is Alice Chen and I work at Globex. I use Python. "
            "Our export is failing, urgent!",
            kind="episode_summary",
        ),
        mem("user: I restarted the export worker.", kind="episode_summary"),
    ]
    result = assemble(memories=[*summaries, *facts])
    assert result.assembled_context == (
        "## Task\n"
        "Help with the failing export\n"
        "\n"
        "## About this user\n"
        "- I use Python\n"
        "- My name is Alice Chen\n"
        "- I work at Globex\n"
        "\n"
        "## Recent history\n"
        "- I restarted the export worker.\n"
        "- My name is Alice Chen and I work at Globex. I use Python. Our export is failing, "
        "urgent!\n"
        "- ok\n"
    )
    assert result.token_estimate == count_tokens(result.assembled_context)
    assert [m.content for m in result.facts[:3]] == [m.content for m in facts]
    assert [m.kind for m in result.facts] == ["profile_fact"] * 3 + ["episode_summary"] * 3


def test_tiny_budget_returns_the_task_header_alone() -> None:
    result = assemble(memories=[mem("I use Python")], episodes=[ep("hello")], max_tokens=1)
    assert result.assembled_context == "## Task\nHelp with the failing export\n"
    assert result.token_estimate == count_tokens(result.assembled_context) > 1
    assert (result.facts, result.episodes, result.procedures) == ((), (), ())
    assert result.provenance.fact_ids == result.provenance.episode_ids == ()
    assert result.sessions == ()


def test_budget_that_fits_the_header_only_adds_nothing() -> None:
    header_tokens = count_tokens("## Task\nHelp with the failing export\n")
    result = assemble(memories=[mem("I use Python")], max_tokens=header_tokens + 3)
    assert result.facts == ()
    assert result.token_estimate == header_tokens


def _room_for_one(task: str, *alternatives: MemoryCandidate) -> int:
    """A budget any one of the memories fits in, with 2 tokens of slack, but not two."""
    return max(assemble(task=task, memories=[m]).token_estimate for m in alternatives) + 2


def test_fact_wins_over_summary_when_only_one_fits() -> None:
    fact = mem("The account plan is Enterprise")
    summary = mem("The account plan is Enterprise", kind="episode_summary")
    budget = _room_for_one("plan?", fact, summary)
    result = assemble(task="plan?", memories=[summary, fact], max_tokens=budget)
    assert result.provenance.fact_ids == (fact.id,)
    assert result.provenance.summary_ids == ()


def test_relevant_old_memory_beats_irrelevant_new_one() -> None:
    old = mem("Invoices go by post", kind="episode_summary", age_days=300, relevance=1.0)
    new = mem("Likes the colour teal", kind="episode_summary", age_days=0, relevance=0.1)
    budget = _room_for_one("how to send the bill", old, new)
    result = assemble(task="how to send the bill", memories=[new, old], max_tokens=budget)
    assert result.provenance.summary_ids == (old.id,)


def test_expired_fact_ranks_below_a_current_one() -> None:
    expired = mem("Works at Initech", valid_to=NOW - timedelta(days=2))
    current = mem("Works at Globex")
    result = assemble(task="employer", memories=[expired, current])
    assert [m.id for m in result.facts] == [current.id, expired.id]


def test_current_session_episodes_come_first_and_resolved_ones_last() -> None:
    resolved = ep("printer jam sorted out", session_id="s-old", age_minutes=1)
    other = ep("asked about the invoice layout", session_id="s-other", age_minutes=2)
    current = [
        ep("my export job is stuck in queue", "s-now", 30),
        ep("it is still stuck after an hour", "s-now", 20),
    ]
    result = assemble(
        task="what next",
        episodes=[resolved, other, *current],
        sessions=SessionState(resolved_session_ids=frozenset({"s-old"})),
        current="s-now",
    )
    ids = [e.id for e in result.episodes]
    assert set(ids[:2]) == {e.id for e in current}
    assert ids[2:] == [other.id, resolved.id]
    text = result.assembled_context
    assert "### Current session (s-now)\n" in text
    assert text.index("still stuck after") < text.index("### Previous interactions")
    assert text.index("### Previous interactions") < text.index("printer jam")


def test_repeat_issue_lifts_a_resolved_session_above_an_unrelated_one() -> None:
    """Only the resolution summary links the old session to the task: no word overlap."""
    repeat = ep("big spreadsheet upload hangs", "s-a", age_minutes=50)
    unrelated = ep("changed notification preferences today", "s-b", age_minutes=40)
    sessions = SessionState(
        resolved_session_ids=frozenset({"s-a", "s-b"}),
        resolution_summaries={"s-a": "CSV export timing out: raised the worker timeout"},
    )
    task = "CSV export timing out again"
    result = assemble(task=task, episodes=[unrelated, repeat], sessions=sessions)
    assert [e.id for e in result.episodes] == [repeat.id, unrelated.id]
    without_summary = assemble(
        task=task,
        episodes=[unrelated, repeat],
        sessions=SessionState(resolved_session_ids=frozenset({"s-a", "s-b"})),
    )
    assert [e.id for e in without_summary.episodes] == [unrelated.id, repeat.id]


def test_provenance_equals_the_included_items_and_excluded_ones_are_absent() -> None:
    fact = mem("Prefers email")
    procedure = mem("Restart the worker, then retry the export", kind="procedure")
    summary = mem("Export failed twice last week", kind="episode_summary")
    episodes = [ep("export failing again", "s1", 5), ep("x" * 40, "s2", 4)]
    huge = mem("filler " * 3000, kind="episode_summary", age_days=30)
    result = assemble(memories=[fact, procedure, summary, huge], episodes=episodes, max_tokens=300)
    prov = result.provenance
    assert prov.fact_ids == (fact.id,)
    assert prov.procedure_ids == (procedure.id,)
    assert prov.summary_ids == (summary.id,)
    assert set(prov.episode_ids) == {e.id for e in episodes}
    assert [m.id for m in result.facts] == [*prov.fact_ids, *prov.summary_ids]
    assert [m.id for m in result.procedures] == list(prov.procedure_ids)
    assert [e.id for e in result.episodes] == list(prov.episode_ids)
    assert "filler" not in result.assembled_context
    assert "## Procedures\n- Restart the worker, then retry the export\n" in (
        result.assembled_context
    )
    assert result.token_estimate <= 300


def test_sessions_summarise_the_included_episodes() -> None:
    episodes = [
        ep("first in s1", "s1", 30),
        ep("no session", None, 25),
        ep("second in s1", "s1", 20),
        ep("only in s2", "s2", 10),
    ]
    result = assemble(episodes=episodes)
    by_id = {s.session_id: s for s in result.sessions}
    assert set(by_id) == {"s1", "s2"}
    assert by_id["s1"].episode_count == 2
    assert by_id["s1"].first_at == NOW - timedelta(minutes=30)
    assert by_id["s1"].last_at == NOW - timedelta(minutes=20)
    assert (by_id["s2"].episode_count, by_id["s2"].first_at) == (1, by_id["s2"].last_at)
    first_seen = [e.session_id for e in result.episodes if e.session_id]
    assert [s.session_id for s in result.sessions] == list(dict.fromkeys(first_seen))


def test_episodes_covered_by_an_included_summary_are_skipped() -> None:
    covered, free = ep("user: export fails"), ep("unrelated later question")
    summary = mem("export fails", kind="episode_summary", sources=(covered.id,))
    result = assemble(memories=[summary], episodes=[covered, free])
    assert result.provenance.summary_ids == (summary.id,)
    assert result.provenance.episode_ids == (free.id,)


def test_covered_episode_is_kept_when_its_summary_does_not_fit() -> None:
    covered = ep("export fails")
    summary = mem("export fails " * 500, kind="episode_summary", sources=(covered.id,))
    result = assemble(memories=[summary], episodes=[covered], max_tokens=200)
    assert result.provenance.summary_ids == ()
    assert result.provenance.episode_ids == (covered.id,)


def test_knapsack_skips_a_big_item_and_still_fits_smaller_later_ones() -> None:
    big = mem("big " * 400, age_days=0)  # newest fact: ranks first
    small = [mem(f"small fact {i}", age_days=1 + i) for i in range(3)]
    result = assemble(memories=[big, *small], max_tokens=120)
    assert result.provenance.fact_ids == tuple(m.id for m in small)
    assert result.token_estimate <= 120


def test_duplicate_candidates_are_ranked_once() -> None:
    fact = mem("I use Python")
    result = assemble(memories=[fact, fact], episodes=[ep("hi there, long enough")] * 2)
    assert result.provenance.fact_ids == (fact.id,)
    assert len(result.provenance.episode_ids) == 1


def test_kinds_outside_context_are_ignored() -> None:
    result = assemble(memories=[mem("s3://bucket/file", kind="artifact_ref")])
    assert result.facts == result.procedures == ()
    assert result.assembled_context == "## Task\nHelp with the failing export\n"


@pytest.mark.parametrize("max_tokens", [1, 20, 40, 80, 160, 320, 640])
def test_token_estimate_is_the_exact_count_and_within_budget(max_tokens: int) -> None:
    memories = [mem(f"fact number {i} about exports", age_days=i) for i in range(10)]
    episodes = [ep(f"episode {i}: the export crashed", f"s{i % 3}", i) for i in range(10)]
    result = assemble(memories=memories, episodes=episodes, max_tokens=max_tokens, current="s1")
    assert result.token_estimate == count_tokens(result.assembled_context)
    header = "## Task\nHelp with the failing export\n"
    assert result.token_estimate <= max_tokens or result.assembled_context == header


def test_blank_memories_are_ignored() -> None:
    result = assemble(memories=[mem("   "), mem("I use Python")])
    assert [m.content for m in result.facts] == ["I use Python"]


def test_search_hit_outranks_a_newer_unmatched_memory() -> None:
    hit = mem("Exports run nightly at 02:00", kind="procedure", age_days=200, relevance=1.0)
    newer = mem("Prefers dark mode", kind="procedure", age_days=0, relevance=0.0)
    result = assemble(task="when do exports run", memories=[newer, hit])
    assert [m.id for m in result.procedures] == [hit.id, newer.id]


def _digest_and_turns() -> tuple[MemoryCandidate, list[MemoryCandidate]]:
    sources = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    parts = [
        "Gina: Who dances in the photo?",
        "Jon: The troupe performing at the festival.",
        "Gina: Marley flooring for the studio.",
    ]
    digest = MemoryCandidate(
        id=uuid.uuid4(),
        kind="episode_summary",
        content=" · ".join(parts),
        summary=" · ".join(parts),
        created_at=NOW,
        valid_from=NOW,
        source_episode_ids=sources,
        metadata={"form": "digest"},
        relevance=0.6,
    )
    turns = [
        mem(part, kind="episode_summary", sources=(source,), relevance=0.1)
        for part, source in zip(parts, sources, strict=True)
    ]
    return digest, turns


def test_a_digest_leaves_out_the_turns_already_shown_on_their_own_lines() -> None:
    digest, turns = _digest_and_turns()
    best = replace(turns[1], relevance=1.0)
    result = assemble(task="festival dancers", memories=[digest, best])

    lines = result.assembled_context.splitlines()
    assert "- Jon: The troupe performing at the festival." in lines
    assert "- Gina: Who dances in the photo? · Gina: Marley flooring for the studio." in lines
    assert [m.id for m in result.facts] == [best.id, digest.id]


def test_a_turn_whose_digest_is_in_is_not_repeated() -> None:
    digest, turns = _digest_and_turns()
    result = assemble(task="festival dancers", memories=[*turns, digest])

    assert [m.id for m in result.facts] == [digest.id]
    assert result.assembled_context.count("at the festival.") == 1


def turn(text: str, day: int, minute: int = 0, relevance: float | None = 0.5) -> EpisodeCandidate:
    """A conversation turn the retrieval led to (``relevance``), on May ``day`` 2023."""
    return EpisodeCandidate(
        id=uuid.uuid4(),
        source="conversation",
        type="message",
        text=text,
        created_at=datetime(2023, 5, day, 13, minute, tzinfo=UTC),
        session_id=f"session_{day}",
        relevance=relevance,
    )


def test_relevant_turns_are_shown_whole_under_their_day_in_event_order() -> None:
    long_said = "Caroline: I went to the LGBTQ support group yesterday and it was so powerful. " * 2
    later = turn("Melanie: The pottery class was fun, I made a bowl.", day=25, relevance=0.9)
    first = turn(long_said.strip(), day=8, minute=5, relevance=0.4)
    before = turn("Melanie: How did the group go?", day=8, minute=1, relevance=0.2)
    result = assemble(task="What did Caroline do?", episodes=[later, first, before])

    assert result.assembled_context == (
        "## Task\nWhat did Caroline do?\n"
        "\n## Relevant history\n"
        "### 8 May 2023\n"
        "- Melanie: How did the group go?\n"
        f"- {long_said.strip()}\n"
        "### 25 May 2023\n"
        "- Melanie: The pottery class was fun, I made a bowl.\n"
    )
    assert [e.id for e in result.episodes] == [later.id, first.id, before.id]  # rank order
    assert result.token_estimate == count_tokens(result.assembled_context)


def test_a_summary_of_a_shown_turn_is_left_out() -> None:
    shown = turn("Caroline: I adopted a guinea pig called Oscar.", day=8)
    gist = mem("Caroline: I adopted a guinea pig …", kind="episode_summary", sources=(shown.id,))
    digest, _ = _digest_and_turns()
    partly = replace(digest, source_episode_ids=(shown.id, *digest.source_episode_ids[1:]))
    other = mem("Jon: I opened a dance studio.", kind="episode_summary", sources=(uuid.uuid4(),))
    result = assemble(task="pets", memories=[gist, partly, other], episodes=[shown])

    assert [m.id for m in result.facts] == [other.id]
    assert "guinea pig called Oscar." in result.assembled_context
    assert "guinea pig …" not in result.assembled_context


def test_a_long_turn_shows_its_sentences_nearest_the_task() -> None:
    filler = " ".join(f"Sentence number {i} is about nothing much at all." for i in range(20))
    said = f"Gina: {filler} My store sells handmade leather bags now. {filler}"
    result = assemble(task="What does Gina's store sell?", episodes=[turn(said, day=3)])
    line = result.assembled_context.splitlines()[-1]
    assert "My store sells handmade leather bags now." in line
    assert line.startswith("- Gina: ") and len(line) <= 2 + 600 + 10


def test_turns_outrank_unfound_summaries_and_fill_the_budget_first() -> None:
    unfound = mem("Jon: Something unrelated entirely.", kind="episode_summary", relevance=0.0)
    weak = turn("Melanie: I painted a lake at sunrise last year.", day=9, relevance=0.1)
    alone = (
        f"## Task\nWhat did Melanie paint?\n\n## Relevant history\n### 9 May 2023\n- {weak.text}\n"
    )
    result = assemble(
        task="What did Melanie paint?",
        memories=[unfound],
        episodes=[weak],
        max_tokens=count_tokens(alone) + 5,  # room for one of them only
    )
    assert result.assembled_context == alone
    assert result.facts == ()
