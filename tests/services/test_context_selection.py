"""Greedy budget filling and the exact final fit."""

from __future__ import annotations

from collections.abc import Sequence

from statewave_server.services.context.selection import (
    Entry,
    Fill,
    fit_exactly,
    greedy_fill,
    rank,
    start,
)


def _names(entries: Sequence[Entry[str]]) -> list[str]:
    return [e.item for e in entries]


def test_rank_is_stable_for_ties() -> None:
    entries = [Entry("a", 1.0, 1), Entry("b", 2.0, 1), Entry("c", 1.0, 1), Entry("d", 2.0, 1)]
    assert _names(rank(entries)) == ["b", "d", "a", "c"]


def test_big_item_is_skipped_and_smaller_later_items_still_fit() -> None:
    ranked = [
        Entry("small", 9.0, 3),
        Entry("big", 8.0, 50),
        Entry("tail1", 2.0, 4),
        Entry("tail2", 1.0, 4),
    ]
    fill = greedy_fill(ranked, budget=20, heading_costs={}, state=start(10))
    assert _names(fill.entries) == ["small", "tail1"]  # tail2 would make 21
    assert fill.used == 17


def test_headings_are_paid_once_by_the_first_item_of_a_section() -> None:
    ranked = [Entry("a", 3.0, 2, ("H",)), Entry("b", 2.0, 2, ("H",)), Entry("c", 1.0, 2, ("G",))]
    fill = greedy_fill(ranked, budget=10, heading_costs={"H": 3, "G": 5}, state=start(0))
    assert _names(fill.entries) == ["a", "b"]  # c would need 2 + 5 more
    assert fill.used == 7
    assert fill.headings == {"H"}


def test_second_pass_continues_from_the_first() -> None:
    first = greedy_fill([Entry("a", 1.0, 4)], budget=10, heading_costs={}, state=start(2))
    second = greedy_fill([Entry("b", 1.0, 5), Entry("c", 1.0, 4)], 10, {}, first)
    assert _names(second.entries) == ["a", "c"]
    assert second.used == 10


def test_fit_exactly_drops_from_the_bottom_until_the_text_fits() -> None:
    entries = [Entry("aa", 3.0, 1), Entry("bb", 2.0, 1), Entry("cc", 1.0, 1)]

    def render(selected: Sequence[Entry[str]]) -> str:
        return "H " + " ".join(e.item for e in selected)

    result = fit_exactly(entries, budget=3, render=render, count_tokens=lambda s: len(s.split()))
    assert _names(result.entries) == ["aa", "bb"]
    assert (result.text, result.tokens) == ("H aa bb", 3)


def test_fit_exactly_returns_the_header_alone_even_over_budget() -> None:
    result = fit_exactly([Entry("x", 1.0, 1)], 1, lambda s: "H E A D " + "x" * len(s), len)
    assert result.entries == ()
    assert result.text == "H E A D "


def test_an_entry_carrying_only_what_is_already_in_is_skipped() -> None:
    ranked = [
        Entry("digest", 3.0, 5, carries=frozenset({"t1", "t2"})),
        Entry("turn1", 2.0, 2, carries=frozenset({"t1"})),
        Entry("turn3", 1.0, 2, carries=frozenset({"t3"})),
    ]
    fill = greedy_fill(ranked, budget=100, heading_costs={}, state=start(0))
    assert _names(fill.entries) == ["digest", "turn3"]
    assert fill.carried == {"t1", "t2", "t3"}


def test_adapt_reshapes_or_vetoes_an_entry_against_what_is_taken() -> None:
    def adapt(entry: Entry[str], state: Fill[str]) -> Entry[str] | None:
        if entry.item == "veto":
            return None
        left = entry.carries - state.carried
        return Entry(f"{entry.item}-{len(left)}", entry.score, len(left), carries=left)

    ranked = [
        Entry("turn", 3.0, 1, carries=frozenset({"t1"})),
        Entry("veto", 2.5, 1),
        Entry("digest", 2.0, 3, carries=frozenset({"t1", "t2", "t3"})),
    ]
    fill = greedy_fill(ranked, 100, {}, start(0), adapt)
    assert _names(fill.entries) == ["turn-1", "digest-2"]
    assert fill.used == 3  # the digest is priced without the turn already in
