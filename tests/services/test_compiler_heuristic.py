"""The heuristic compiler: patterns, summaries, determinism, dedupe, payload text rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statewave_server.services.compiler import (
    EpisodeInput,
    HeuristicCompiler,
    compile_episodes,
    episode_text,
    make_compiler,
    subject_text,
)
from statewave_server.services.compiler.heuristic import extract_facts

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def episode(payload: dict[str, Any], *, minutes: int = 0) -> EpisodeInput:
    return EpisodeInput(
        id=uuid.uuid4(), payload=payload, created_at=T0 + timedelta(minutes=minutes)
    )


def facts_of(drafts: list[Any]) -> list[str]:
    return [d.content for d in drafts if d.kind == "profile_fact"]


SUPPORT_CONVERSATION = {
    "messages": [
        {"role": "assistant", "content": "Hi, I'm Sam from Northwind support. How can I help?"},
        {
            "role": "user",
            "content": "Hi, my name is Dana Whitfield and I work at Northwind Traders. "
            "We're on the Enterprise plan.",
        },
        {"role": "assistant", "content": "Thanks Dana, I am looking into your invoices now."},
        {"role": "user", "content": "Our exports keep failing since Monday."},
    ]
}


def test_golden_path_support_conversation_yields_name_employer_and_plan() -> None:
    drafts = compile_episodes([episode(SUPPORT_CONVERSATION)])

    assert facts_of(drafts) == [
        "my name is Dana Whitfield",
        "I work at Northwind Traders",
        "We're on the Enterprise plan",
    ]
    assert all(d.confidence == 0.6 for d in drafts if d.kind == "profile_fact")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My name is Alice Chen.", ["My name is Alice Chen"]),
        ("hello, i'm Bob", ["i'm Bob"]),
        ("My name is Sean O'Brien-Smith", ["My name is Sean O'Brien-Smith"]),
        ("I am happy to help", []),
        ("I'm not sure", []),
        ("Miami am Bob", []),
        ("I work at Globex.", ["I work at Globex"]),
        ("I work for Initech, sadly", ["I work for Initech"]),
        ("I am on the Pro plan", ["I am on the Pro plan"]),
        ("I’m on the Pro plan!", ["I’m on the Pro plan"]),
        ("We're on the Enterprise plan.", ["We're on the Enterprise plan"]),
        ("we are on the Team tier now", ["we are on the Team tier now"]),
        ("Our plan is Business.", ["Our plan is Business"]),
        ("We're on it!", []),
        ("Our plan is to migrate next week.", []),
        ("I live in Lisbon.", ["I live in Lisbon"]),
        ("I'm from Berlin, Germany", ["I'm from Berlin"]),
        ("I am based in Austin", ["I am based in Austin"]),
        ("I use Python, Go", ["I use Python"]),
        ("I use Node.js daily. Then more.", ["I use Node.js daily"]),
        ("I prefer email; calls are hard", ["I prefer email"]),
        ("My favourite editor is Vim", ["My favourite editor is Vim"]),
        ("I work at\nGlobex", []),
        ("I live in", []),
        ("The weather is nice today.", []),
    ],
)
def test_fact_patterns(text: str, expected: list[str]) -> None:
    assert extract_facts(text) == expected


def test_facts_come_pattern_by_pattern() -> None:
    text = "I use Rust. My name is Ada Byron. I live in London."
    assert extract_facts(text) == ["My name is Ada Byron", "I live in London", "I use Rust"]


def test_episode_summary_shape() -> None:
    text = "x" * 700
    ep = episode({"text": text}, minutes=5)
    (summary,) = compile_episodes([ep])

    assert summary.kind == "episode_summary"
    assert summary.content == "x" * 500
    assert summary.summary == "x" * 200
    assert summary.confidence == 0.8
    assert summary.valid_from == T0 + timedelta(minutes=5)
    assert summary.source_episode_ids == (ep.id,)


def test_valid_from_prefers_occurred_at() -> None:
    occurred = T0 - timedelta(days=3)
    ep = EpisodeInput(
        id=uuid.uuid4(), payload={"text": "I live in Oslo"}, created_at=T0, occurred_at=occurred
    )
    assert {d.valid_from for d in compile_episodes([ep])} == {occurred}


def test_empty_payloads_yield_nothing() -> None:
    assert compile_episodes([episode({}), episode({"text": "   "}), episode({"other": 1})]) == []


def test_deterministic_for_same_input() -> None:
    episodes = [episode(SUPPORT_CONVERSATION), episode({"text": "I use Go. I live in Rome."})]
    assert compile_episodes(episodes) == compile_episodes(episodes)


def test_identical_facts_in_one_compile_are_stored_once_with_all_sources() -> None:
    first = episode({"text": "I work at Globex."})
    second = episode({"text": "Reminder: i work at globex"}, minutes=1)
    third = episode({"text": "I work at Globex, and I use Go"}, minutes=2)

    facts = [d for d in compile_episodes([first, second, third]) if d.kind == "profile_fact"]

    assert [f.content for f in facts] == ["I work at Globex", "I use Go"]
    assert facts[0].source_episode_ids == (first.id, second.id, third.id)
    assert facts[0].valid_from == T0


def test_assistant_words_never_become_profile_facts_but_stay_in_summary() -> None:
    drafts = compile_episodes(
        [episode({"messages": [{"role": "assistant", "content": "I'm Sam and I use Zendesk"}]})]
    )
    assert facts_of(drafts) == []
    assert drafts[0].content == "assistant: I'm Sam and I use Zendesk"


def test_never_produces_procedures() -> None:
    drafts = compile_episodes([episode({"text": "Step 1: I use Docker. Step 2: deploy."})])
    assert {d.kind for d in drafts} <= {"episode_summary", "profile_fact"}


def test_episode_text_rule() -> None:
    assert episode_text({"messages": [{"role": "user", "content": "hi"}, {"content": "yo"}]}) == (
        "user: hi\nyo"
    )
    assert episode_text({"messages": ["plain", 3, {"role": "user", "text": "t"}]}) == (
        "plain\nuser: t"
    )
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}
    assert episode_text(parts) == "user: a"
    assert episode_text({"messages": [], "text": "fallback"}) == "fallback"
    assert episode_text({"text": 42, "content": "c"}) == "42"
    assert episode_text({"content": "c", "message": "m"}) == "c"
    assert episode_text({"message": "m"}) == "m"
    assert episode_text({"other": "x"}) == ""
    assert subject_text(SUPPORT_CONVERSATION).startswith("user: Hi, my name is Dana")


async def test_heuristic_compiler_runs_async_and_never_fails_episodes() -> None:
    result = await HeuristicCompiler().compile([episode(SUPPORT_CONVERSATION)])
    assert result.failed_episode_ids == ()
    assert len(result.drafts) == 4


def test_make_compiler() -> None:
    assert make_compiler("heuristic").name == "heuristic"
    with pytest.raises(ValueError, match="unknown compiler type"):
        make_compiler("magic")
    with pytest.raises(ValueError, match="needs an LLM client"):
        make_compiler("llm")
