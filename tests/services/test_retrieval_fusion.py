"""Retrieval relevance (pure): rank fusion, speaker matching, and how the
fused relevance drives the additive score."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from statewave_server.services.context.candidates import (
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
)
from statewave_server.services.context.fusion import (
    fuse,
    locality,
    speaker,
    task_names,
)
from statewave_server.services.context.render import SNIPPET_CHARS, SUMMARIES, memory_line, snippet
from statewave_server.services.context.repeats import keywords
from statewave_server.services.context.scoring import (
    DEFAULT_WEIGHTS,
    episode_scores,
    memory_scores,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def test_task_names_skip_the_question_word() -> None:
    assert task_names("When did Caroline meet Mel at the Pride parade?") == frozenset(
        {"caroline", "mel", "pride"}
    )
    assert task_names("what did she say?") == frozenset()


def test_speaker_of_a_turn() -> None:
    assert speaker("Caroline: I went to a support group") == "caroline"
    assert speaker("Jon Snow: hello") == "jon snow"
    assert speaker("no speaker here: really") is None
    assert speaker("A sentence without a colon") is None


def test_fuse_normalises_and_rewards_agreement() -> None:
    both, lexical_only, semantic_only = ids(3)
    relevance = fuse(
        "what happened?",
        [lexical_only, both],
        [semantic_only, both],
        {},
    )
    assert relevance[both] == 1.0
    assert relevance[lexical_only] == relevance[semantic_only] < 1.0
    assert fuse("x", [], [], {}) == {}


def test_fuse_lifts_turns_of_the_named_speaker() -> None:
    hers, his = ids(2)
    contents = {hers: "Caroline: I paint", his: "Melanie: I paint"}
    relevance = fuse("What does Caroline paint?", [his, hers], [his, hers], contents)
    assert relevance[hers] == 1.0
    assert relevance[his] < 1.0


def _memory(
    relevance: float | None, kind: str = "episode_summary", age: float = 1
) -> MemoryCandidate:
    created = NOW - timedelta(days=age)
    return MemoryCandidate(
        id=uuid.uuid4(),
        kind=kind,
        content="something unrelated",
        summary="something unrelated",
        created_at=created,
        valid_from=created,
        relevance=relevance,
    )


def test_fused_relevance_outweighs_kind_and_recency() -> None:
    relevant_old = _memory(1.0, age=300)
    recent_fact = _memory(None, kind="profile_fact", age=0)
    scores = memory_scores("task", [relevant_old, recent_fact], NOW)
    assert scores[relevant_old.id] > scores[recent_fact.id]


def test_recency_only_breaks_ties_between_relevant_memories() -> None:
    better_old = _memory(1.0, age=300)
    worse_new = _memory(0.9, age=0)
    scores = memory_scores("task", [better_old, worse_new], NOW)
    assert scores[better_old.id] > scores[worse_new.id]
    assert scores[better_old.id] - scores[worse_new.id] == pytest.approx(
        DEFAULT_WEIGHTS.relevance_max * 0.1 - DEFAULT_WEIGHTS.recency_with_relevance
    )


def test_episode_relevance_replaces_word_overlap() -> None:
    plain = EpisodeCandidate(uuid.uuid4(), "user", "message", "task words here", NOW)
    relevant = EpisodeCandidate(
        uuid.uuid4(), "user", "message", "nothing shared", NOW, relevance=0.8
    )
    scores = episode_scores("task words here", [plain, relevant], SessionState(), None, {})
    assert scores[relevant.id] > scores[plain.id]


def test_locality_lifts_memories_near_the_best_hits() -> None:
    best, near, far = ids(3)
    relevance = {best: 1.0, near: 0.5, far: 0.52}
    times = {best: NOW, near: NOW + timedelta(minutes=5), far: NOW + timedelta(days=30)}
    lifted = locality(relevance, times)
    assert lifted[best] == 1.0
    assert lifted[near] > lifted[far]
    assert locality(relevance, {}) == relevance


def test_snippet_keeps_the_sentences_about_the_task() -> None:
    text = (
        "Melanie: Wow, that sounds amazing! I love camping with the kids. Last summer we "
        "painted a sunrise at the beach. We also went hiking and saw a waterfall."
    )
    short = snippet(text, keywords(["When did Melanie paint a sunrise?"]))
    assert short.startswith("Melanie: ")
    assert "painted a sunrise at the beach." in short
    assert "waterfall" not in short
    assert len(short) <= SNIPPET_CHARS + len("Melanie: ") + 4
    assert snippet("Melanie: short", frozenset({"x"})) == "Melanie: short"


def test_snippet_cuts_a_lone_long_sentence_at_a_word() -> None:
    text = "word " * 60
    short = snippet(text.strip(), frozenset({"word"}), limit=50)
    assert short.endswith("…") and len(short) <= 51


def test_only_retrieved_summaries_are_shortened() -> None:
    long_text = "Caroline: " + "I went to a support group. " * 10
    plain = replace(_memory(None), content=long_text, summary=long_text)
    retrieved = replace(plain, relevance=1.0)
    words = keywords(["support group"])
    assert memory_line(plain, SUMMARIES, words) == f"- {long_text.strip()}"
    assert len(memory_line(retrieved, SUMMARIES, words)) < len(long_text)
