"""Digests: one memory carrying the gist of several turns of one session.

A conversation turn alone is often ambiguous ("Yeah, they're the ones performing at the
festival!") and costs a whole context line. A digest joins the *gist* of each of a few
turns — its most informative sentences (rarest words in the compiled batch), cut to
``GIST_CHARS`` — into one line, for two kinds of stretch of a session:

* an exchange — ``DIGEST_TURNS`` consecutive turns, whoever spoke:
  ``Gina: Who are the dancers in the photo? · Jon: they're the ones performing at …``,
  so the retrievers see an answer next to its question;
* what one speaker told — ``DIGEST_TURNS`` consecutive turns of the same speaker, so a
  question about one person ("what does she do with her kids?") finds several of her
  facts in one place.

Either way context assembly carries several turns in fewer tokens than their one-line
summaries. Only turns whose gist made it in are a digest's source episodes; filler turns
("Thanks, Mel!") are left out of both text and provenance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from statewave_server.services.compiler.drafts import (
    DIGEST_FORM,
    EPISODE_SUMMARY,
    EpisodeInput,
    MemoryDraft,
)

DIGEST_TURNS: Final = 4
GIST_CHARS: Final = 90
GIST_MIN_WORDS: Final = 3
SEPARATOR: Final = " · "

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_ROLE = re.compile(r"^([^:\n]{1,40}):\s*")
# Words any turn may hold: they say nothing about what this turn is about.
# fmt: off
_FILLER = frozenset([
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from",
    "had", "has", "have", "he", "her", "here", "hey", "hi", "hello", "him", "his", "how", "i",
    "i'm", "if", "in", "into", "is", "it", "it's", "its", "just", "me", "my", "no", "not",
    "of", "oh", "ok", "okay", "on", "or", "our", "she", "so", "some", "such", "that", "that's",
    "the", "their", "them", "then", "there", "they", "this", "to", "too", "up", "us", "very",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "yes", "you", "your", "you're", "yeah", "wow", "thanks", "thank", "awesome",
    "great", "cool", "nice", "really", "amazing", "glad", "love", "totally", "sounds", "sure",
])
# fmt: on


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not filler (function words, interjections, praise)."""
    return [word for word in _WORD.findall(text.lower()) if word not in _FILLER]


def rarity(texts: Iterable[str]) -> dict[str, float]:
    """Inverse document frequency of each content word over ``texts``.

    What makes a sentence informative is what sets it apart from the rest of the
    conversation: "pottery class" says more than "so creative" when every other turn is
    about feeling creative.
    """
    documents = [frozenset(content_words(text)) for text in texts]
    frequency: dict[str, int] = {}
    for words in documents:
        for word in words:
            frequency[word] = frequency.get(word, 0) + 1
    return {word: math.log(1 + len(documents) / count) for word, count in frequency.items()}


def gist(text: str, idf: Mapping[str, float] | None = None, limit: int = GIST_CHARS) -> str:
    """The turn's most informative sentences, in text order, within ``limit`` characters.

    A leading ``Speaker:`` stays. Sentences are taken by the summed rarity (``idf``; 1 per
    word without it) of their content words, ties earlier first, while they fit; a lone
    sentence too long is cut at a word and marked ``…``. Empty when no sentence has
    ``GIST_MIN_WORDS`` content words: the turn is filler.
    """
    flat = " ".join(text.split())
    match = _ROLE.match(flat)
    prefix, body = (f"{match.group(1)}: ", flat[match.end() :]) if match else ("", flat)
    sentences = [s for s in _SENTENCE_END.split(body) if s]
    words = [content_words(s) for s in sentences]
    weights = [sum(idf.get(w, 1.0) if idf else 1.0 for w in ws) for ws in words]
    order = sorted(
        (i for i, ws in enumerate(words) if len(ws) >= GIST_MIN_WORDS),
        key=lambda i: (-weights[i], i),
    )
    kept: list[int] = []
    size = 0
    for index in order:
        length = len(sentences[index]) + 1
        if kept and size + length > limit:
            continue
        kept.append(index)
        size += length
    if not kept:
        return ""
    joined = " ".join(sentences[i] for i in sorted(kept))
    if len(joined) > limit:
        joined = joined[:limit].rsplit(" ", 1)[0] + " …"
    return prefix + joined


def digest_drafts(episodes: Iterable[EpisodeInput], confidence: float) -> list[MemoryDraft]:
    """Exchange and speaker digests of each session's turns (event time), see above.

    Episodes without a session are not grouped (nothing says they belong together); a
    stretch with fewer than two informative turns yields no digest (the per-turn summary
    already says it all). The same stretch found both ways is one digest (the caller's
    ``merge_duplicates``). ``confidence`` is that of the compiler's other summaries.
    """
    turns = sorted(
        (e for e in episodes if e.session_id is not None and e.text.strip()),
        key=lambda e: (e.time, str(e.id)),
    )
    idf = rarity(e.text for e in turns)
    exchanges = _grouped(turns, lambda e: str(e.session_id))
    speakers = _grouped(turns, lambda e: f"{e.session_id}|{_speaker(e.text)}")
    drafts = []
    for group in [*exchanges, *speakers]:
        for start in range(0, len(group), DIGEST_TURNS):
            draft = _digest(group[start : start + DIGEST_TURNS], idf, confidence)
            if draft is not None:
                drafts.append(draft)
    return drafts


def _grouped(
    turns: Sequence[EpisodeInput], key: Callable[[EpisodeInput], str]
) -> list[list[EpisodeInput]]:
    groups: dict[str, list[EpisodeInput]] = {}
    for turn in turns:
        groups.setdefault(key(turn), []).append(turn)
    return list(groups.values())


def _speaker(text: str) -> str:
    """The ``role`` of a ``role: content`` turn (empty when there is none)."""
    match = _ROLE.match(text.lstrip())
    return match.group(1) if match else ""


def _digest(
    turns: Sequence[EpisodeInput], idf: Mapping[str, float], confidence: float
) -> MemoryDraft | None:
    gists = [(turn, gist(turn.text, idf)) for turn in turns]
    kept = [(turn, text) for turn, text in gists if text]
    if len(kept) < 2:
        return None
    # The separator splits the digest back into its turns (``context/render.py``).
    content = SEPARATOR.join(text.replace(SEPARATOR, " - ") for _, text in kept)
    return MemoryDraft(
        kind=EPISODE_SUMMARY,
        content=content,
        summary=content,
        confidence=confidence,
        valid_from=kept[0][0].time,
        source_episode_ids=tuple(turn.id for turn, _ in kept),
        metadata={"compiler": "heuristic", "form": DIGEST_FORM},
    )
