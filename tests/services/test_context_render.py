"""Rendering of the context document and its bookkeeping (provenance-free parts)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from statewave_server.services.context import render as r
from statewave_server.services.context.candidates import EpisodeCandidate, MemoryCandidate

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def _episode(text: str, session_id: str | None = None, minutes: int = 0) -> EpisodeCandidate:
    return EpisodeCandidate(
        id=uuid.uuid4(),
        source="user",
        type="message",
        text=text,
        created_at=T0 + timedelta(minutes=minutes),
        session_id=session_id,
    )


def test_clean_summary_strips_speakers_and_keeps_first_and_last() -> None:
    assert r.clean_summary("user: hello") == "hello"
    assert r.clean_summary("User: export fails\n\nassistant:  restart it") == (
        "export fails → restart it"
    )
    assert r.clean_summary("user: a\nassistant: b\nuser: c") == "a → c"
    assert r.clean_summary("system:\n  \n") == ""


def summary_candidate(content: str, **extra: Any) -> MemoryCandidate:
    """An episode summary with no summary text of its own."""
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind="episode_summary",
        content=content,
        summary="",
        created_at=T0,
        valid_from=T0,
        **extra,
    )


def test_summary_line_falls_back_to_content_when_summary_is_empty() -> None:
    m = summary_candidate("user: it broke")
    assert r.memory_line(m, r.SUMMARIES) == "- it broke"
    assert r.memory_line(m, r.FACTS) == "- user: it broke"


def test_episode_line_format_truncation_and_empty_text() -> None:
    ep = EpisodeCandidate(uuid.uuid4(), "agent", "tool_call", "x" * 200, T0)
    assert r.episode_line(ep) == "- [agent/tool_call] " + "x" * 150
    blank = EpisodeCandidate(uuid.uuid4(), "user", "message", "  ", T0)
    assert r.episode_line(blank) == "- [user/message] (no text content)"
    multi = EpisodeCandidate(uuid.uuid4(), "user", "message", "line one\n## injected", T0)
    assert r.episode_line(multi) == "- [user/message] line one ## injected"


def test_header_only_document() -> None:
    assert r.render("Do it", {}, None) == "## Task\nDo it\n"


def test_sections_render_in_fixed_order_whatever_the_mapping_order() -> None:
    text = r.render(
        "T",
        {r.EPISODES: ["- [u/m] hi"], r.SUMMARIES: ["- s"], r.PROCEDURES: ["- p"], r.FACTS: ["- f"]},
        None,
    )
    assert text == (
        "## Task\nT\n\n## About this user\n- f\n\n## Procedures\n- p\n\n"
        "## Recent history\n- s\n\n## Recent interactions\n- [u/m] hi\n"
    )


def test_session_split_of_interactions() -> None:
    both = r.render("T", {r.CURRENT_SESSION: ["- a"], r.PREVIOUS: ["- b", "- c"]}, "s-1")
    assert both == (
        "## Task\nT\n\n## Recent interactions\n### Current session (s-1)\n- a\n\n"
        "### Previous interactions\n- b\n- c\n"
    )
    only_previous = r.render("T", {r.PREVIOUS: ["- b"]}, "s-1")
    assert only_previous == "## Task\nT\n\n## Recent interactions\n### Previous interactions\n- b\n"


def test_heading_chunks_add_up_to_the_rendered_text() -> None:
    """Selection prices headings with these chunks, so they must be what render emits."""
    headings = r.heading_chunks("s")
    lines = {r.FACTS: ["- f"], r.CURRENT_SESSION: ["- a"], r.PREVIOUS: ["- b"]}
    expected = (
        r.task_header("T")
        + headings[r.FACTS]
        + r.item_chunk("- f")
        + headings["interactions"]
        + headings[r.CURRENT_SESSION]
        + r.item_chunk("- a")
        + headings[r.PREVIOUS]
        + r.item_chunk("- b")
    )
    assert r.render("T", lines, "s") == expected


def test_session_summaries_count_and_span_in_order_of_first_appearance() -> None:
    episodes = [
        _episode("a", "s2", minutes=5),
        _episode("b", "s1", minutes=9),
        _episode("c", None, minutes=1),
        _episode("d", "s2", minutes=2),
        _episode("e", "s2", minutes=7),
        _episode("f", "s1", minutes=3),
    ]
    assert r.session_summaries(episodes) == (
        r.SessionSummary("s2", 3, T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)),
        r.SessionSummary("s1", 2, T0 + timedelta(minutes=3), T0 + timedelta(minutes=9)),
    )


def test_digest_text_hides_shown_turns_unless_its_parts_do_not_line_up() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    digest = summary_candidate(
        "Ann: one fact · Bob: another fact",
        source_episode_ids=(a, b),
        metadata={"form": "digest"},
    )
    assert r.digest_text(digest, frozenset({a})) == "Bob: another fact"
    assert r.digest_text(digest) == digest.content
    merged = replace(digest, source_episode_ids=(a, b, uuid.uuid4()))
    assert r.digest_text(merged, frozenset({a})) == digest.content


def test_day_sections_render_last_oldest_first_under_one_heading() -> None:
    late = r.day_section(datetime(2023, 7, 3, 23, 30, tzinfo=UTC))
    early = r.day_section(datetime(2023, 2, 8, 9, 0, tzinfo=UTC))
    text = r.render(
        "When?",
        {late: ["- b"], r.SUMMARIES: ["- s"], early: ["- a"], r.EPISODES: ["- e"]},
        None,
    )
    assert text == (
        "## Task\nWhen?\n"
        "\n## Recent history\n- s\n"
        "\n## Recent interactions\n- e\n"
        "\n## Relevant history\n### 8 February 2023\n- a\n### 3 July 2023\n- b\n"
    )
    assert r.section_headings(late) == (r.HISTORY, late)


def test_day_of_a_turn_is_its_utc_day_with_the_month_spelled_out() -> None:
    evening_in_new_york = datetime(2023, 5, 7, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert r.day_section(evening_in_new_york) == "day:2023-05-08"
    assert r.short_date(evening_in_new_york) == "8 May 2023"
    chunks = r.heading_chunks(None, ["day:2023-05-08"])
    assert chunks["day:2023-05-08"] == "### 8 May 2023\n"


def test_turn_line_is_the_whole_turn_on_one_line() -> None:
    said = EpisodeCandidate(
        id=uuid.uuid4(),
        source="conversation",
        type="message",
        text="Caroline: Hi!\n\nI went   to the support group.",
        created_at=datetime(2023, 5, 8, tzinfo=UTC),
    )
    assert r.turn_line(said, frozenset()) == "- Caroline: Hi! I went to the support group."
    empty = replace(said, text="  ")
    assert r.turn_line(empty, frozenset()) == "- (no text content)"
