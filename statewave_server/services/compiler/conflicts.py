"""Supersede rule: a newer memory that restates an older one retires the older one.

Pure: it sees plain records and returns decisions; loading and updating rows is the
caller's job. **Tenant scoping is the caller's job too** — pass only memories of one
``(tenant_id, subject_id)``; mixing tenants here would let one tenant's compile retire
another's memories (bug §10.2 of the reference).
"""

from __future__ import annotations

import math
import string
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

PROFILE_FACT_THRESHOLD: Final = 0.6
DEFAULT_THRESHOLD: Final = 0.8
_PUNCTUATION: Final = string.punctuation + "’‘“”"


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """The fields of an active memory that the supersede rule looks at."""

    id: uuid.UUID
    kind: str
    content: str
    valid_from: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Supersession:
    """``memory_id`` is superseded by ``superseded_by``; its validity ends at ``valid_to``."""

    memory_id: uuid.UUID
    superseded_by: uuid.UUID
    valid_to: datetime


def threshold_for(kind: str) -> float:
    """Facts are short, so a smaller overlap already means "the same statement"."""
    return PROFILE_FACT_THRESHOLD if kind == "profile_fact" else DEFAULT_THRESHOLD


def tokens(content: str) -> frozenset[str]:
    """Lower-cased whitespace-separated words with surrounding punctuation removed.

    Stripping punctuation (unlike the reference) makes "I work at Globex." and
    "I work at Globex" the same statement while keeping "node.js" or "i'm" whole.
    """
    words = (word.strip(_PUNCTUATION) for word in content.lower().split())
    return frozenset(word for word in words if word)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity; two empty sets are 0 (empty content never conflicts)."""
    if not a or not b:
        return 0.0
    shared = len(a & b)  # the union's size follows; building it would cost as much again
    return shared / (len(a) + len(b) - shared)


def conflicts(older: MemoryRecord, newer: MemoryRecord) -> bool:
    """Same kind and token overlap at or above that kind's threshold."""
    if older.kind != newer.kind:
        return False
    return jaccard(tokens(older.content), tokens(newer.content)) >= threshold_for(older.kind)


def find_supersessions(
    existing: Sequence[MemoryRecord], new: Sequence[MemoryRecord]
) -> list[Supersession]:
    """Which memories the compile of ``new`` retires, oldest decision first.

    ``existing`` are the subject's active memories before this compile; ``new`` are the
    memories it created, in compile order. Age is **event time** (``valid_from``, when
    the statement was made), so a backfilled or late-compiled older statement never
    retires a newer one: it is retired by it instead. Ties are deterministic: on equal
    ``valid_from`` existing memories come first (by ``created_at``, then id) and new ones
    keep their given order (later = newer).

    Each memory is compared with the newer memories of its kind; the first one it
    conflicts with supersedes it. Pairs of two existing memories are not compared: they
    were settled when the newer of them was compiled. ``valid_to`` is the superseding
    memory's ``valid_from``.
    """
    timeline = sorted(
        [(_age(m, None), m, False) for m in existing]
        + [(_age(m, index), m, True) for index, m in enumerate(new)],
        key=lambda entry: entry[0],
    )
    result: list[Supersession] = []
    for kind in _kinds_in_order(new):
        group = [(m, is_new) for _, m, is_new in timeline if m.kind == kind]
        result.extend(_resolve_group(group))
    return result


def _age(memory: MemoryRecord, new_index: int | None) -> tuple[datetime, int, datetime, str, int]:
    """Sort key: event time, then existing before new, then insertion order."""
    if new_index is None:
        return (memory.valid_from, 0, memory.created_at, str(memory.id), 0)
    return (memory.valid_from, 1, memory.created_at, "", new_index)


def _kinds_in_order(memories: Iterable[MemoryRecord]) -> list[str]:
    return list(dict.fromkeys(m.kind for m in memories))


def _resolve_group(group: Sequence[tuple[MemoryRecord, bool]]) -> Iterable[Supersession]:
    token_sets = [tokens(m.content) for m, _ in group]
    sizes = [len(t) for t in token_sets]
    threshold = threshold_for(group[0][0].kind) if group else DEFAULT_THRESHOLD
    candidates = _candidates(token_sets, [is_new for _, is_new in group], threshold)
    for i, (older, _) in enumerate(group):
        for j in candidates[i]:
            newer, _ = group[j]
            if min(sizes[i], sizes[j]) < threshold * max(sizes[i], sizes[j]):
                continue  # jaccard <= smaller / larger size < threshold: cannot conflict
            if jaccard(token_sets[i], token_sets[j]) >= threshold:
                yield Supersession(
                    memory_id=older.id,
                    superseded_by=newer.id,
                    valid_to=max(newer.valid_from, older.valid_from),
                )
                break


def _candidates(
    token_sets: Sequence[frozenset[str]], is_new: Sequence[bool], threshold: float
) -> list[list[int]]:
    """Per set, the later sets (ascending) that can reach ``threshold`` with it and are
    not both existing (two existing memories were settled by an earlier compile); the
    rest cannot, so a compile against a window of thousands of memories compares a few
    pairs, not all of them.

    Prefix filtering: with each set's words ordered rarest first, a pair whose Jaccard
    similarity is at least ``t`` shares at least ``ceil(t * size)`` words of each set, so
    it shares one of each set's first ``size - ceil(t * size) + 1`` words."""
    frequency = Counter(word for words in token_sets for word in words)
    prefixes = []
    postings: dict[str, list[int]] = {}
    new_postings: dict[str, list[int]] = {}
    for index, words in enumerate(token_sets):
        # The epsilon keeps a product that floating point rounds just past a whole
        # number from shortening the prefix; a longer prefix is only safer.
        length = len(words) - math.ceil(threshold * len(words) - 1e-9) + 1
        prefix = sorted(words, key=lambda word: (frequency[word], word))[:length]
        prefixes.append(prefix)
        for word in prefix:
            postings.setdefault(word, []).append(index)
            if is_new[index]:
                new_postings.setdefault(word, []).append(index)
    return [
        sorted(
            {
                j
                for word in prefix
                for j in (postings if is_new[index] else new_postings).get(word, ())
                if j > index
            }
        )
        for index, prefix in enumerate(prefixes)
    ]
