"""What the model reads: scores of a context *text*, never of the ids a response cites.

* **answer containment** (the headline): every content word of the gold answer appears in
  the text; a full date in the answer (``2023-05-07``, ``7 May 2023``, ``May 7, 2023``)
  matches the same day written in any of those forms;
* **evidence shown**: the share of a question's evidence turns of which at least
  ``SHOWN_SHARE`` of the word trigrams appear in the text — the turn is really there,
  not a short gist of it;
* **id recall**: the share of evidence turns whose ids the response cites (provenance);
  kept as a labelled side column only — it credits turns the model never sees.

The definitions are those of the shared LoCoMo scorer (``../shared/bench/locomo/``),
implemented here so this bench scores itself; both are run and reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHOWN_SHARE = 0.8
_WORD = re.compile(r"[a-z0-9']+")
# Words an answer may hold that say nothing (the shared scorer's list).
# fmt: off
STOPWORDS = frozenset([
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "at", "for", "with", "is", "are",
    "was", "were", "be", "been", "it", "its", "this", "that", "i", "you", "he", "she", "we",
    "they", "my", "your", "his", "her", "our", "their", "me", "him", "them", "from", "as", "by",
    "not", "no", "do", "did", "does", "have", "has", "had", "so", "but", "if", "about", "what",
    "when", "where", "who", "how", "which",
])
_MONTH_NAMES = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]
# fmt: on
_MONTHS = {m[:3]: n for n, m in enumerate(_MONTH_NAMES, start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
# (pattern, the order its groups give year/month/day in)
_DATES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+(\d{{4}})\b", re.IGNORECASE), "dmy"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(\d{{4}})\b", re.IGNORECASE), "mdy"),
)


def words(text: str) -> list[str]:
    """Lower-cased words (letters, digits, apostrophes), in order."""
    return _WORD.findall(text.lower())


def trigrams(text: str) -> set[tuple[str, ...]]:
    """The text's word trigrams; a text of under three words is its one short gram."""
    seq = words(text)
    grams = {tuple(seq[i : i + 3]) for i in range(len(seq) - 2)}
    return grams or {tuple(seq)}


def coverage(turn: str, shown: set[tuple[str, ...]]) -> float:
    """Share of ``turn``'s trigrams among ``shown`` (0 for an empty turn)."""
    grams = trigrams(turn)
    return len(grams & shown) / len(grams) if grams else 0.0


def dates(text: str) -> set[str]:
    """Every full date written in ``text`` (any of the three forms), as ISO days."""
    found = set()
    for pattern, order in _DATES:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups(), strict=True))
            month = parts["m"]
            number = int(month) if month.isdigit() else _MONTHS[month[:3].lower()]
            if 1 <= number <= 12 and 1 <= int(parts["d"]) <= 31:
                found.add(f"{int(parts['y']):04d}-{number:02d}-{int(parts['d']):02d}")
    return found


def _without_dates(text: str) -> str:
    for pattern, _ in _DATES:
        text = pattern.sub(" ", text)
    return text


@dataclass(frozen=True)
class Context:
    """A context text, pre-digested for scoring many answers and turns against it."""

    words: frozenset[str]
    dates: frozenset[str]
    trigrams: frozenset[tuple[str, ...]]

    @classmethod
    def of(cls, text: str) -> Context:
        return cls(frozenset(words(text)), frozenset(dates(text)), frozenset(trigrams(text)))


def answer_contained(answer: str, context: Context) -> bool:
    """All content words of ``answer`` in the context; its full dates as days (any form).

    An answer with no content word and no date is never contained.
    """
    days = dates(answer)
    content = [w for w in words(_without_dates(answer) if days else answer) if w not in STOPWORDS]
    if not days and not content:
        return False
    return days <= context.dates and all(w in context.words for w in content)


def evidence_shown(evidence_texts: Sequence[str], context: Context) -> float:
    """Share of the evidence turns with at least ``SHOWN_SHARE`` of their trigrams shown."""
    shown = set(context.trigrams)
    hits = [coverage(text, shown) >= SHOWN_SHARE for text in evidence_texts]
    return sum(hits) / len(hits)


def id_recall(evidence: Sequence[str], cited: Iterable[str]) -> float:
    """Share of the evidence ids among ``cited`` (the side column; see module doc)."""
    present = set(cited)
    return sum(1 for e in evidence if e in present) / len(evidence)
