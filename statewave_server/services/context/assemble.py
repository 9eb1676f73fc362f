"""Context assembly: from ranked candidates to the bundle ``POST /v1/context`` returns.

Pure: the caller loads candidates (recency window, full-text and semantic hits), the
resolutions' session state and injects the token counter; nothing here touches the
database or the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from statewave_server.services.context import render as r
from statewave_server.services.context.candidates import (
    CONTEXT_KINDS,
    EPISODE_SUMMARY,
    PROCEDURE,
    PROFILE_FACT,
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
    is_digest,
)
from statewave_server.services.context.repeats import keywords, repeat_issue_boosts
from statewave_server.services.context.scoring import (
    DEFAULT_WEIGHTS,
    ScoringWeights,
    episode_scores,
    memory_scores,
)
from statewave_server.services.context.selection import (
    Entry,
    Fill,
    fit_exactly,
    greedy_fill,
    rank,
    start,
)

_Candidate = MemoryCandidate | EpisodeCandidate
_C = TypeVar("_C", MemoryCandidate, EpisodeCandidate)
_KIND_SECTIONS = {PROFILE_FACT: r.FACTS, PROCEDURE: r.PROCEDURES, EPISODE_SUMMARY: r.SUMMARIES}


@dataclass(frozen=True, slots=True)
class AssembledContext:
    """The context bundle: included items per bucket, the Markdown and its token count.

    ``facts`` holds the included profile facts followed by the included episode summaries;
    every sequence is in rank order.
    """

    facts: tuple[MemoryCandidate, ...]
    episodes: tuple[EpisodeCandidate, ...]
    procedures: tuple[MemoryCandidate, ...]
    provenance: r.Provenance
    assembled_context: str
    token_estimate: int
    sessions: tuple[r.SessionSummary, ...]


@dataclass(frozen=True, slots=True)
class _Placed:
    """A candidate with the section it renders in and its rendered line."""

    candidate: _Candidate
    section: str
    line: str


def assemble_context(
    task: str,
    max_tokens: int,
    memories: Sequence[MemoryCandidate],
    episodes: Sequence[EpisodeCandidate],
    session_state: SessionState,
    current_session_id: str | None,
    count_tokens: Callable[[str], int],
    now: datetime,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
) -> AssembledContext:
    """Rank memories and episodes for ``task`` and render those that fit ``max_tokens``.

    The rendered text never exceeds ``max_tokens`` unless the task header alone does (it is
    then returned on its own). Ties keep the input order, so callers pass memories as
    retrieved (recency window, then search hits) and episodes oldest first. An episode is
    left out when an included episode summary already covers it.
    """
    pool_memories = _memory_pool(memories)
    words, dated = keywords([task]), r.is_temporal(task)  # snippets and dates follow the task
    pool_episodes = _unique(episodes)
    boosts = repeat_issue_boosts(task, pool_episodes, session_state, current_session_id, weights)
    memory_score = memory_scores(
        task, pool_memories, now, weights, session_state, current_session_id
    )
    episode_score = episode_scores(
        task, pool_episodes, session_state, current_session_id, boosts, weights
    )

    def score(candidate: _Candidate) -> float:
        if isinstance(candidate, MemoryCandidate):
            return memory_score[candidate.id]
        return episode_score[candidate.id]

    entries = [
        _entry(placed, score(placed.candidate), count_tokens)
        for placed in _place(pool_memories, pool_episodes, current_session_id, words, dated)
    ]
    ranked = rank(entries)
    chosen = _choose(
        ranked, task, max_tokens, current_session_id, count_tokens, pool_memories, words, dated
    )

    def render_entries(selected: Sequence[Entry[_Placed]]) -> str:
        return r.render(task, _lines_by_section(selected), current_session_id)

    final = fit_exactly(chosen, max_tokens, render_entries, count_tokens)
    return _bundle([entry.item for entry in final.entries], final.text, final.tokens)


def _unique(candidates: Iterable[_C]) -> list[_C]:
    """First occurrence of each id: a memory found by several retrievers is ranked once."""
    seen: dict[uuid.UUID, _C] = {}
    for candidate in candidates:
        seen.setdefault(candidate.id, candidate)
    return list(seen.values())


def _memory_pool(memories: Sequence[MemoryCandidate]) -> list[MemoryCandidate]:
    """Renderable memories grouped facts, procedures, summaries (order kept within each).

    Memories of other kinds, or with blank content, would render nothing useful.
    """
    unique = [m for m in _unique(memories) if m.kind in CONTEXT_KINDS and m.content.strip()]
    return [
        m for kind in (PROFILE_FACT, PROCEDURE, EPISODE_SUMMARY) for m in unique if m.kind == kind
    ]


def _place(
    memories: Sequence[MemoryCandidate],
    episodes: Sequence[EpisodeCandidate],
    current_session_id: str | None,
    words: frozenset[str],
    dated: bool,
) -> list[_Placed]:
    placed = [
        _Placed(
            m, _KIND_SECTIONS[m.kind], r.memory_line(m, _KIND_SECTIONS[m.kind], words, dated=dated)
        )
        for m in memories
    ]
    for episode in episodes:
        section = _episode_section(episode, current_session_id)
        placed.append(_Placed(episode, section, r.episode_line(episode)))
    return placed


def _episode_section(episode: EpisodeCandidate, current_session_id: str | None) -> str:
    if current_session_id is None:
        return r.EPISODES
    if episode.session_id == current_session_id:
        return r.CURRENT_SESSION
    return r.PREVIOUS


def _entry(placed: _Placed, score: float, count_tokens: Callable[[str], int]) -> Entry[_Placed]:
    """Priced entry; a summary carries its episodes, so once a digest holding a turn is in,
    that turn's own summary is redundant (and the other way round)."""
    cost = count_tokens(r.item_chunk(placed.line))
    candidate = placed.candidate
    carries: frozenset[object] = frozenset()
    if placed.section == r.SUMMARIES and isinstance(candidate, MemoryCandidate):
        carries = frozenset(candidate.source_episode_ids)
    return Entry(placed, score, cost, r.SECTION_HEADINGS[placed.section], carries)


def _choose(
    ranked: Sequence[Entry[_Placed]],
    task: str,
    budget: int,
    current_session_id: str | None,
    count_tokens: Callable[[str], int],
    memories: Sequence[MemoryCandidate],
    words: frozenset[str],
    dated: bool,
) -> list[Entry[_Placed]]:
    """Greedy fill in two passes so that summaries and the episodes they cover don't repeat.

    Pass one leaves out every episode some candidate summary covers; pass two offers the
    budget left to covered episodes whose covering summaries all failed to make it in.
    Returns the chosen entries in rank order.
    """
    heading_costs = {k: count_tokens(v) for k, v in r.heading_chunks(current_session_id).items()}
    covered_by = _covering_summaries(memories)

    def covering(entry: Entry[_Placed]) -> set[uuid.UUID]:
        candidate = entry.item.candidate
        if isinstance(candidate, EpisodeCandidate):
            return covered_by.get(candidate.id, set())
        return set()

    def adapt(entry: Entry[_Placed], state: Fill[_Placed]) -> Entry[_Placed] | None:
        return _without_shown_turns(entry, state, words, dated, count_tokens)

    header: Fill[_Placed] = start(count_tokens(r.task_header(task)))
    uncovered = [e for e in ranked if not covering(e)]
    first = greedy_fill(uncovered, budget, heading_costs, header, adapt)
    summaries = {e.item.candidate.id for e in first.entries if e.item.section == r.SUMMARIES}
    released = [e for e in ranked if covering(e) and not covering(e) & summaries]
    final = greedy_fill(released, budget, heading_costs, first)
    position = {e.item.candidate.id: i for i, e in enumerate(ranked)}
    return sorted(final.entries, key=lambda e: position[e.item.candidate.id])


def _without_shown_turns(
    entry: Entry[_Placed],
    state: Fill[_Placed],
    task_words: frozenset[str],
    dated: bool,
    count_tokens: Callable[[str], int],
) -> Entry[_Placed] | None:
    """A digest less the turns already taken (re-rendered, re-priced); others unchanged.

    The turns left out are in the context through their own lines, so the digest still
    cites them; a digest all of whose turns are taken adds nothing (None).
    """
    candidate = entry.item.candidate
    hidden = entry.carries & state.carried
    if not hidden or not isinstance(candidate, MemoryCandidate) or not is_digest(candidate):
        return entry
    if hidden == entry.carries:
        return None
    line = r.memory_line(candidate, r.SUMMARIES, task_words, dated=dated, hidden=hidden)
    placed = replace(entry.item, line=line)
    cost = count_tokens(r.item_chunk(line))
    return replace(entry, item=placed, cost=cost, carries=entry.carries - hidden)


def _covering_summaries(memories: Sequence[MemoryCandidate]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Episode id → ids of the candidate summaries compiled from it."""
    covered: dict[uuid.UUID, set[uuid.UUID]] = {}
    for memory in memories:
        if memory.kind == EPISODE_SUMMARY:
            for episode_id in memory.source_episode_ids:
                covered.setdefault(episode_id, set()).add(memory.id)
    return covered


def _lines_by_section(selected: Sequence[Entry[_Placed]]) -> Mapping[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for entry in selected:
        lines.setdefault(entry.item.section, []).append(entry.item.line)
    return lines


def _bundle(placed: Sequence[_Placed], text: str, tokens: int) -> AssembledContext:
    """Split the included items (rank order) into the response's buckets."""

    def memories_in(section: str) -> tuple[MemoryCandidate, ...]:
        return tuple(
            p.candidate
            for p in placed
            if p.section == section and isinstance(p.candidate, MemoryCandidate)
        )

    facts, summaries, procedures = (
        memories_in(r.FACTS),
        memories_in(r.SUMMARIES),
        memories_in(r.PROCEDURES),
    )
    episodes = tuple(p.candidate for p in placed if isinstance(p.candidate, EpisodeCandidate))
    provenance = r.Provenance(
        fact_ids=tuple(m.id for m in facts),
        summary_ids=tuple(m.id for m in summaries),
        procedure_ids=tuple(m.id for m in procedures),
        episode_ids=tuple(e.id for e in episodes),
    )
    return AssembledContext(
        facts=facts + summaries,
        episodes=episodes,
        procedures=procedures,
        provenance=provenance,
        assembled_context=text,
        token_estimate=tokens,
        sessions=r.session_summaries(episodes),
    )
