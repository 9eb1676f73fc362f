"""The Markdown an agent reads, and the bookkeeping that describes it.

The text is built from chunks — task header, section openings, one chunk per item line —
so that selection can price every chunk with the same token counter before rendering.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from statewave_server.services.compiler.digest import SEPARATOR as DIGEST_SEPARATOR
from statewave_server.services.context.candidates import (
    EpisodeCandidate,
    MemoryCandidate,
    is_digest,
)
from statewave_server.services.context.repeats import keywords

EPISODE_TEXT_CHARS = 150
SNIPPET_CHARS = 120
#: A relevant turn longer than this shows its sentences closest to the task.
TURN_CHARS = 600

# Section keys: which part of the document an item renders in.
FACTS = "facts"
PROCEDURES = "procedures"
SUMMARIES = "summaries"
EPISODES = "episodes"
CURRENT_SESSION = "current"
PREVIOUS = "previous"
HISTORY = "history"
_DAY = "day:"  # + ISO date: the relevant turns of one day
_INTERACTIONS = "interactions"

#: Headings each section needs, outermost first (a heading is rendered once).
SECTION_HEADINGS: Mapping[str, tuple[str, ...]] = {
    FACTS: (FACTS,),
    PROCEDURES: (PROCEDURES,),
    SUMMARIES: (SUMMARIES,),
    EPISODES: (_INTERACTIONS,),
    CURRENT_SESSION: (_INTERACTIONS, CURRENT_SESSION),
    PREVIOUS: (_INTERACTIONS, PREVIOUS),
}
_FIXED_ORDER = (FACTS, PROCEDURES, SUMMARIES, EPISODES, CURRENT_SESSION, PREVIOUS)
_SPEAKER_PREFIX = re.compile(r"^\s*(?:user|assistant|system):", re.IGNORECASE)
_NAME_PREFIX = re.compile(r"^[A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,3}: ")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TEMPORAL = re.compile(
    r"\b(?:when|how long|ago|since|until|what (?:year|month|day|date|time)|which (?:year|month|day)"
    r"|(?:last|next|this|past) (?:year|month|week|weekend|summer|winter|spring|fall|night)"
    r"|yesterday|today|tomorrow|in (?:19|20)\d\d)\b",
    re.IGNORECASE,
)


def task_header(task: str) -> str:
    """The part always rendered, whatever the budget."""
    return f"## Task\n{task}\n"


def heading_chunks(session_id: str | None, days: Iterable[str] = ()) -> dict[str, str]:
    """Text each heading adds; blank lines between blocks belong to the heading after them.

    ``days`` are the day sections (see ``day_section``) that may be rendered.
    """
    chunks = {
        FACTS: "\n## About this user\n",
        PROCEDURES: "\n## Procedures\n",
        SUMMARIES: "\n## Recent history\n",
        HISTORY: "\n## Relevant history\n",
        _INTERACTIONS: "\n## Recent interactions\n",
        CURRENT_SESSION: f"### Current session ({session_id})\n",
        PREVIOUS: "\n### Previous interactions\n",
    }
    for day in days:
        chunks[day] = f"### {short_date(date.fromisoformat(day.removeprefix(_DAY)))}\n"
    return chunks


def day_section(moment: datetime) -> str:
    """The section of the relevant turns of ``moment``'s day (UTC), under its date."""
    return f"{_DAY}{moment.astimezone(UTC).date().isoformat()}"


def section_headings(section: str) -> tuple[str, ...]:
    """Headings ``section`` needs, outermost first."""
    if section.startswith(_DAY):
        return (HISTORY, section)
    return SECTION_HEADINGS[section]


def clean_summary(text: str) -> str:
    """A one-line gist of a summary: speaker prefixes dropped, first and last line kept.

    Summaries of conversations are transcripts ("user: …\\nassistant: …"); the arrow form
    keeps the question and its outcome while costing one line of budget.
    """
    lines = [_SPEAKER_PREFIX.sub("", line).strip() for line in text.splitlines()]
    kept = [line for line in lines if line]
    if len(kept) <= 2:
        return " → ".join(kept)
    return f"{kept[0]} → {kept[-1]}"


def is_temporal(task: str) -> bool:
    """Whether the task asks about time ("when…", "how long ago", "what year", "last week")."""
    return _TEMPORAL.search(task) is not None


def short_date(moment: date) -> str:
    """``8 February 2023``: the day a history line happened (UTC); the month in full, as
    people write and ask about it."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y}"


def memory_line(
    memory: MemoryCandidate,
    section: str,
    task_words: frozenset[str] | None = None,
    *,
    dated: bool = False,
    hidden: frozenset[object] = frozenset(),
) -> str:
    """``- <content>``; summaries show their cleaned summary (content when it is empty).

    With ``task_words`` (the task's content words), a summary the retrieval found relevant
    (``memory.relevance`` set) shows only its sentences that share most with the task — a
    query-biased snippet of at most ``SNIPPET_CHARS`` — so more of the relevant history fits
    the budget; the whole memory is still in the response, by id. A digest of several
    turns is already that short and is shown whole, less the turns in ``hidden`` (shown
    by lines of their own). ``dated`` (a question about time) prefixes such summaries with
    the day they happened (``valid_from``).
    """
    if section != SUMMARIES:
        return f"- {memory.content}"
    if is_digest(memory):
        text = digest_text(memory, hidden)
    else:
        text = clean_summary(memory.summary) or clean_summary(memory.content)
        if task_words is not None and memory.relevance is not None:
            text = snippet(text, task_words)
    if dated and task_words is not None and memory.relevance is not None:
        text = f"({short_date(memory.valid_from)}) {text}"
    return f"- {text}"


def digest_text(memory: MemoryCandidate, hidden: frozenset[object] = frozenset()) -> str:
    """A digest's turns (one per source episode, in order) except those in ``hidden``.

    A digest whose parts do not line up with its sources (an older format) is whole.
    """
    parts = memory.content.split(DIGEST_SEPARATOR)
    if not hidden or len(parts) != len(memory.source_episode_ids):
        return memory.content
    shown = zip(parts, memory.source_episode_ids, strict=True)
    return DIGEST_SEPARATOR.join(part for part, source in shown if source not in hidden)


def snippet(text: str, task_words: frozenset[str], limit: int = SNIPPET_CHARS) -> str:
    """The sentences of ``text`` sharing most words with the task, in text order.

    A leading ``Name:`` stays. Sentences are taken best first while they fit ``limit``
    characters (at least one; a lone sentence too long is cut at a word, marked ``…``);
    left-out stretches show as `` … ``. Text within ``limit`` is returned unchanged.
    """
    if len(text) <= limit:
        return text
    match = _NAME_PREFIX.match(text)
    prefix, body = (match.group(0), text[match.end() :]) if match else ("", text)
    sentences = [x for x in _SENTENCE_END.split(body) if x.strip()]
    overlap = [len(task_words & keywords([x])) for x in sentences]
    order = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))
    kept: list[int] = []
    size = len(prefix)
    for index in order:
        if kept and size + len(sentences[index]) + 3 > limit:
            continue
        kept.append(index)
        size += len(sentences[index]) + 3
    parts = []
    previous = -1
    for index in sorted(kept):
        sentence = sentences[index]
        if len(sentence) > limit:
            sentence = sentence[:limit].rsplit(" ", 1)[0] + "…"
        parts.append(("… " if index > previous + 1 else "") + sentence)
        previous = index
    tail = " …" if previous < len(sentences) - 1 else ""
    return prefix + " ".join(parts) + tail


def episode_line(episode: EpisodeCandidate) -> str:
    """``- [<source>/<type>] <first 150 chars>``, whitespace folded to keep it one line."""
    text = " ".join(episode.text.split())[:EPISODE_TEXT_CHARS]
    return f"- [{episode.source}/{episode.type}] {text or '(no text content)'}"


def turn_line(episode: EpisodeCandidate, task_words: frozenset[str]) -> str:
    """``- <the turn's text>``, one line; a long one shows its sentences nearest the task."""
    text = " ".join(episode.text.split())
    return f"- {snippet(text, task_words, TURN_CHARS) or '(no text content)'}"


def item_chunk(line: str) -> str:
    """What one item adds to the document: its line and the line break after it."""
    return f"{line}\n"


def render(task: str, lines_by_section: Mapping[str, Sequence[str]], session_id: str | None) -> str:
    """Assemble the document: task header, then each non-empty section in a fixed order.

    ``lines_by_section`` holds each section's item lines in the order to show them. The
    relevant turns' day sections come last, oldest day first. With a session, episodes
    are split into the current session's (its relevant turns too: the conversation in
    progress comes first) and previous interactions.
    """
    chunks = [task_header(task)]
    days = sorted(s for s in lines_by_section if s.startswith(_DAY))
    headings = heading_chunks(session_id, days)
    rendered: set[str] = set()
    for section in [*_FIXED_ORDER, *days]:
        lines = lines_by_section.get(section, ())
        if not lines:
            continue
        for heading in section_headings(section):
            if heading not in rendered:
                chunk = headings[heading]
                if heading == PREVIOUS and CURRENT_SESSION not in rendered:
                    chunk = chunk.lstrip("\n")
                chunks.append(chunk)
                rendered.add(heading)
        chunks.extend(item_chunk(line) for line in lines)
    return "".join(chunks)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Ids of the items included in the context, per bucket."""

    fact_ids: tuple[uuid.UUID, ...]
    summary_ids: tuple[uuid.UUID, ...]
    procedure_ids: tuple[uuid.UUID, ...]
    episode_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One session represented among the included episodes."""

    session_id: str
    episode_count: int
    first_at: datetime
    last_at: datetime


def session_summaries(episodes: Sequence[EpisodeCandidate]) -> tuple[SessionSummary, ...]:
    """Per distinct session (order of first appearance): episode count and time span."""
    grouped: dict[str, list[datetime]] = {}
    for episode in episodes:
        if episode.session_id is not None:
            grouped.setdefault(episode.session_id, []).append(episode.created_at)
    return tuple(
        SessionSummary(sid, len(stamps), min(stamps), max(stamps))
        for sid, stamps in grouped.items()
    )
