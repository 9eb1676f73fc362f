"""The default compiler: deterministic, offline, no model — regexes over the payload text.

Per episode with text it yields one ``episode_summary`` (confidence 0.8) and a
``profile_fact`` (confidence 0.6) per matched self-description, in pattern order. A fact's
content is the whole matched phrase including its trigger ("I work at Globex"), as the
reference does, so the memory reads as a sentence on its own.

Beyond the reference (each kept deliberately small):

* facts come only from what the subject said: assistant/agent/system/tool messages are
  ignored (the agent's "I'm Sam" is not the customer's name);
* triggers must start at a word boundary and accept typographic apostrophes (U+2019);
* extra triggers: employer ``i work for``; plan ``we're on``/``we are on`` (only when the
  phrase names a plan, tier, subscription, licence or team), ``our plan is``/``my plan is``
  (not followed by "to"); location ``i'm based in``/``i am based in``; preference
  ``my favourite``;
* names may be hyphenated or O'-prefixed ("Smith-Jones", "O'Brien");
* a phrase ends at ``, ; ! ?``, a newline, the end, or a ``.`` followed by whitespace or
  the end — so "I use Node.js" keeps its dot; a phrase longer than 200 characters is not
  a fact;
* identical facts (ignoring case and spacing) within one compile are stored once, with
  every source episode;
* per stretch of consecutive turns of one session, an exchange digest (``digest.py``):
  the gist of each turn in one line, so a terse turn is found next to its neighbours.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from typing import Final

from statewave_server.services.compiler.digest import digest_drafts
from statewave_server.services.compiler.drafts import (
    EPISODE_SUMMARY,
    PROFILE_FACT,
    CompileResult,
    EpisodeInput,
    MemoryDraft,
    merge_duplicates,
    subject_text,
)

SUMMARY_CONFIDENCE: Final = 0.8
FACT_CONFIDENCE: Final = 0.6
SUMMARY_CONTENT_CHARS: Final = 500
SUMMARY_CHARS: Final = 200

_APOS = "['’]"
_NAME_WORD = r"(?:[A-Z]')?[A-Z][a-z]+(?:-[A-Z][a-z]+)*"
# The phrase after a trigger: starts with a real character, stops lazily at a terminator.
_OBJECT = r"[ \t]+[^\s.,;!?][^\n]{0,200}?"
_END = r"(?=[,;!?\n]|\.(?:\s|$)|$)"
_PLAN_WORDS = r"(?i:plan|tier|subscription|licen[cs]e|team|package)"


def _trigger(*phrases: str) -> str:
    return r"\b(?i:" + "|".join(phrases) + ")"


FACT_PATTERNS: Final[tuple[re.Pattern[str], ...]] = (
    # 1. Name: the trigger is case-insensitive, the name must be Capitalised words.
    re.compile(
        _trigger("my name is", f"i{_APOS}m", "i am")
        + rf"[ \t]+{_NAME_WORD}(?:[ \t]+{_NAME_WORD})*(?![A-Za-z])"
    ),
    # 2. Employer.
    re.compile(_trigger("i work at", "i work for", f"i{_APOS}m at", "i am at") + _OBJECT + _END),
    # 3. Plan / team.
    re.compile(
        "(?:"
        + _trigger(f"i{_APOS}m on", "i am on")
        + _OBJECT
        + "|"
        + _trigger(f"we{_APOS}re on", "we are on")
        + rf"(?=[^\n.,;!?]{{0,80}}?\b{_PLAN_WORDS}\b)"
        + _OBJECT
        + "|"
        + _trigger("our plan is", "my plan is")
        + r"(?![ \t]+(?i:to)\b)"
        + _OBJECT
        + ")"
        + _END
    ),
    # 4. Location.
    re.compile(
        _trigger(
            "i live in", f"i{_APOS}m from", "i am from", f"i{_APOS}m based in", "i am based in"
        )
        + _OBJECT
        + _END
    ),
    # 5. Preferences and tools.
    re.compile(_trigger("i use", "i prefer", "my favou?rite") + _OBJECT + _END),
)


def extract_facts(text: str) -> list[str]:
    """Profile-fact phrases in ``text``: pattern by pattern, then by position; repeats kept."""
    facts: list[str] = []
    for pattern in FACT_PATTERNS:
        for match in pattern.finditer(text):
            fact = match.group(0).strip().rstrip(".,").strip()
            if fact:
                facts.append(fact)
    return facts


def compile_episodes(episodes: Iterable[EpisodeInput]) -> list[MemoryDraft]:
    """Drafts for ``episodes`` (in the given order); the same input always gives the same output."""
    episodes = list(episodes)
    drafts: list[MemoryDraft] = []
    for episode in episodes:
        text = episode.text.strip()
        if not text:
            continue
        sources = (episode.id,)
        drafts.append(
            MemoryDraft(
                kind=EPISODE_SUMMARY,
                content=text[:SUMMARY_CONTENT_CHARS],
                summary=text[:SUMMARY_CHARS],
                confidence=SUMMARY_CONFIDENCE,
                valid_from=episode.time,
                source_episode_ids=sources,
                metadata={"compiler": "heuristic"},
            )
        )
        drafts.extend(
            MemoryDraft(
                kind=PROFILE_FACT,
                content=fact,
                summary=fact[:SUMMARY_CHARS],
                confidence=FACT_CONFIDENCE,
                valid_from=episode.time,
                source_episode_ids=sources,
                metadata={"compiler": "heuristic"},
            )
            for fact in extract_facts(subject_text(episode.payload))
        )
    return merge_duplicates([*drafts, *digest_drafts(episodes, SUMMARY_CONFIDENCE)])


class HeuristicCompiler:
    """The ``heuristic`` compiler type; never fails an episode."""

    name: Final = "heuristic"

    async def compile(self, episodes: Sequence[EpisodeInput]) -> CompileResult:
        """Run ``compile_episodes`` off the event loop (big payloads make regexes CPU-bound)."""
        drafts = await asyncio.to_thread(compile_episodes, list(episodes))
        return CompileResult(drafts=tuple(drafts))
