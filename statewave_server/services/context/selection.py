"""Choosing what fits: rank by score, fill the token budget greedily, verify exactly.

Every item has a price in tokens (its line) and may need headings rendered before it
(priced once, when the first item of the section is taken). Items are walked best first;
one that does not fit is skipped and smaller, lower-ranked ones may still fit — a greedy
knapsack. Token counts are not exactly additive across chunk boundaries, so the result is
checked against the rendered text and trimmed from the bottom if it ever overshoots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """An item up for selection: its score, token price and the headings it needs.

    ``carries`` names what the item tells (e.g. the episodes a summary covers); an item
    whose ``carries`` the selection already holds entirely is redundant and skipped.
    """

    item: T
    score: float
    cost: int
    headings: tuple[str, ...] = ()
    carries: frozenset[object] = frozenset()


@dataclass(frozen=True, slots=True)
class Fill(Generic[T]):
    """A selection in progress: accepted entries (in order), tokens used, headings paid,
    and everything the accepted entries carry."""

    entries: tuple[Entry[T], ...]
    used: int
    headings: frozenset[str] = frozenset()
    carried: frozenset[object] = frozenset()


def rank(entries: Iterable[Entry[T]]) -> list[Entry[T]]:
    """Highest score first; a stable sort, so ties keep the order the items came in."""
    return sorted(entries, key=lambda entry: -entry.score)


def start(base_cost: int) -> Fill[T]:
    """An empty selection that has already spent ``base_cost`` (the task header)."""
    return Fill(entries=(), used=base_cost)


def greedy_fill(
    ranked: Sequence[Entry[T]],
    budget: int,
    heading_costs: Mapping[str, int],
    state: Fill[T],
    adapt: Callable[[Entry[T], Fill[T]], Entry[T] | None] | None = None,
) -> Fill[T]:
    """Take each entry, best first, whose line and missing headings still fit the budget.

    Continues from ``state``, so a second pass can spend what the first left over. An
    entry that carries nothing new (see :class:`Entry`) is skipped: its tokens would only
    repeat what is already in. ``adapt`` may first reshape an entry to what is already
    taken (e.g. drop the part others already carry, at a lower price) or veto it (None).
    """
    for original in ranked:
        entry = adapt(original, state) if adapt is not None else original
        if entry is None or (entry.carries and entry.carries <= state.carried):
            continue
        missing = [h for h in entry.headings if h not in state.headings]
        price = entry.cost + sum(heading_costs[h] for h in missing)
        if state.used + price <= budget:
            state = replace(
                state,
                entries=(*state.entries, entry),
                used=state.used + price,
                headings=state.headings | frozenset(missing),
                carried=state.carried | entry.carries,
            )
    return state


@dataclass(frozen=True, slots=True)
class Rendered(Generic[T]):
    """The final selection with its text and that text's exact token count."""

    entries: tuple[Entry[T], ...]
    text: str
    tokens: int


def fit_exactly(
    entries: Sequence[Entry[T]],
    budget: int,
    render: Callable[[Sequence[Entry[T]]], str],
    count_tokens: Callable[[str], int],
) -> Rendered[T]:
    """Render and count; drop the last entry (the lowest-ranked) until the text fits.

    An empty selection is returned even when it does not fit: the task header alone is
    the one thing allowed to exceed the budget.
    """
    kept = list(entries)
    while True:
        text = render(kept)
        tokens = count_tokens(text)
        if tokens <= budget or not kept:
            return Rendered(entries=tuple(kept), text=text, tokens=tokens)
        kept.pop()
