"""The supersede rule: restatements retire older memories; ties resolve deterministically."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from statewave_server.services.compiler import MemoryRecord, find_supersessions
from statewave_server.services.compiler.conflicts import jaccard, tokens

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def mem(
    content: str, *, kind: str = "profile_fact", day: int = 0, created_day: int | None = None
) -> MemoryRecord:
    created = T0 + timedelta(days=day if created_day is None else created_day)
    return MemoryRecord(
        id=uuid.uuid4(),
        kind=kind,
        content=content,
        valid_from=T0 + timedelta(days=day),
        created_at=created,
    )


def superseded(existing: list[MemoryRecord], new: list[MemoryRecord]) -> dict[uuid.UUID, uuid.UUID]:
    return {s.memory_id: s.superseded_by for s in find_supersessions(existing, new)}


def test_restatement_supersedes_the_older_copy() -> None:
    old = mem("I work at Globex.")
    new = mem("I work at Globex", day=2)

    (decision,) = find_supersessions([old], [new])

    assert decision.memory_id == old.id
    assert decision.superseded_by == new.id
    assert decision.valid_to == new.valid_from


def test_changed_fact_supersedes_when_overlap_reaches_threshold() -> None:
    old = mem("I work at Globex")
    new = mem("I work at Initech", day=1)  # 3 shared of 5 tokens = 0.6
    assert superseded([old], [new]) == {old.id: new.id}


def test_different_facts_do_not_conflict() -> None:
    existing = [mem("My name is Dana Whitfield"), mem("I use Python")]
    new = [mem("I use Go", day=1), mem("We're on the Enterprise plan", day=1)]
    assert find_supersessions(existing, new) == []


def test_kind_thresholds() -> None:
    a = "the export job failed on monday night again"
    b = "the export job failed on monday night twice"  # 7 shared of 9 tokens ≈ 0.78
    assert 0.6 <= jaccard(tokens(a), tokens(b)) < 0.8

    fact_old, fact_new = mem(a), mem(b, day=1)
    assert superseded([fact_old], [fact_new]) == {fact_old.id: fact_new.id}

    sum_old, sum_new = mem(a, kind="episode_summary"), mem(b, kind="episode_summary", day=1)
    assert find_supersessions([sum_old], [sum_new]) == []
    same = mem(a, kind="episode_summary", day=1)
    assert superseded([sum_old], [same]) == {sum_old.id: same.id}


def test_kinds_never_conflict_with_each_other_and_empty_content_never_conflicts() -> None:
    assert find_supersessions([mem("I use Go")], [mem("I use Go", kind="procedure", day=1)]) == []
    assert find_supersessions([mem("  ")], [mem("...", day=1)]) == []


def test_new_memories_of_one_compile_resolve_in_given_order() -> None:
    # Same created_at and valid_from: the later one in compile order is the newer one.
    first, second = mem("I live in Oslo"), mem("I live in Oslo")
    assert superseded([], [first, second]) == {first.id: second.id}
    assert superseded([], [second, first]) == {second.id: first.id}


def test_existing_ties_resolve_the_same_way_whatever_the_input_order() -> None:
    twins = [mem("I prefer email") for _ in range(4)]  # identical timestamps (batch insert)
    newest = mem("I prefer email", day=1)
    expected = sorted(twins, key=lambda m: str(m.id))
    results = set()
    for seed in range(5):
        shuffled = twins[:]
        random.Random(seed).shuffle(shuffled)
        decisions = find_supersessions(shuffled, [newest])
        results.add(tuple((d.memory_id, d.superseded_by) for d in decisions))
    assert results == {tuple((m.id, newest.id) for m in expected)}


def test_existing_memories_are_not_compared_among_themselves() -> None:
    older, newer = mem("I use Go"), mem("I use Go", day=1)
    assert find_supersessions([older, newer], []) == []
    assert find_supersessions([older, newer], [mem("I live in Rome", day=2)]) == []


def test_a_backfilled_older_statement_is_retired_by_the_newer_existing_one() -> None:
    # Compiled later, but said earlier (event time): it never retires the newer fact.
    existing = mem("I live in Madrid", day=5)
    backfilled = mem("I live in Paris", day=1, created_day=9)
    (decision,) = find_supersessions([existing], [backfilled])
    assert decision.memory_id == backfilled.id
    assert decision.superseded_by == existing.id
    assert decision.valid_to == existing.valid_from


def test_a_newer_statement_retires_the_existing_one_whatever_the_compile_order() -> None:
    existing = mem("I live in Paris", day=1, created_day=9)
    newer = mem("I live in Madrid", day=5, created_day=10)
    assert superseded([existing], [newer]) == {existing.id: newer.id}


def test_new_memories_of_one_compile_resolve_by_event_time() -> None:
    late, early = mem("I live in Oslo", day=3), mem("I live in Rome", day=1)
    assert superseded([], [late, early]) == {early.id: late.id}


def test_each_memory_is_superseded_by_the_first_newer_conflict() -> None:
    old = mem("I work at Globex")
    mid = mem("I work at Globex", day=1)
    last = mem("I work at Globex", day=2)
    assert superseded([old], [mid, last]) == {old.id: mid.id, mid.id: last.id}


def _every_pair(
    existing: list[MemoryRecord], new: list[MemoryRecord]
) -> dict[uuid.UUID, uuid.UUID]:
    """The rule as the docstring states it, comparing every pair (the reference)."""
    timeline = sorted(
        [((m.valid_from, 0, m.created_at, str(m.id), 0), m, False) for m in existing]
        + [((m.valid_from, 1, m.created_at, "", i), m, True) for i, m in enumerate(new)],
        key=lambda entry: entry[0],
    )
    result: dict[uuid.UUID, uuid.UUID] = {}
    for i, (_, older, older_new) in enumerate(timeline):
        for _, newer, newer_new in timeline[i + 1 :]:
            if (older_new or newer_new) and older.kind == newer.kind:
                threshold = 0.6 if older.kind == "profile_fact" else 0.8
                if jaccard(tokens(older.content), tokens(newer.content)) >= threshold:
                    result[older.id] = newer.id
                    break
    return result


def test_only_pairs_that_can_reach_the_threshold_are_compared_and_none_is_missed() -> None:
    """Prefix filtering skips pairs; on random near-duplicates it decides as every pair."""
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(12)] + ["the", "plan", "I", "am", "on", "we're"]
    for _ in range(300):

        def memory(day: int) -> MemoryRecord:
            words = rng.sample(vocabulary, rng.randint(0, 7))
            kind = rng.choice(["profile_fact", "episode_summary"])
            return mem(" ".join(words), kind=kind, day=day, created_day=rng.randint(0, 3))

        existing = [memory(rng.randint(0, 5)) for _ in range(rng.randint(0, 12))]
        new = [memory(rng.randint(0, 5)) for _ in range(rng.randint(1, 12))]
        assert superseded(existing, new) == _every_pair(existing, new)
