"""Supersede rule: a newer memory that restates an older one retires the older one.

Pure: it sees plain records and returns decisions; loading and updating rows is the
caller's job. **Tenant scoping is the caller's job too** — pass only memories of one
``(tenant_id, subject_id)``; mixing tenants here would let one tenant's compile retire
another's memories (bug §10.2 of the reference).
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

PROFILE_FACT_THRESHOLD: Final = 0.6
DEFAULT_THRESHOLD: Final = 0.8


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
    words = (word.strip(string.punctuation + "’‘“”") for word in content.lower().split())
    return frozenset(word for word in words if word)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity; two empty sets are 0 (empty content never conflicts)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


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
    memories it created, in compile order. Age order, deterministic on ties: every new
    memory is newer than every existing one; existing ones are ordered by ``created_at``,
    then ``valid_from``, then id; new ones keep their given order (later = newer).

    Each memory is compared with the newer memories of its kind; the first one it
    conflicts with supersedes it. Pairs of two existing memories are not compared: they
    were settled when the newer of them was compiled. ``valid_to`` is the superseding
    memory's ``valid_from`` (never earlier than the old memory's own ``valid_from``).
    """
    ordered = sorted(existing, key=lambda m: (m.created_at, m.valid_from, str(m.id)))
    ordered_new = list(new)
    result: list[Supersession] = []
    for kind in _kinds_in_order(ordered_new):
        old_group = [m for m in ordered if m.kind == kind]
        new_group = [m for m in ordered_new if m.kind == kind]
        result.extend(_resolve_group(old_group, new_group))
    return result


def _kinds_in_order(memories: Iterable[MemoryRecord]) -> list[str]:
    return list(dict.fromkeys(m.kind for m in memories))


def _resolve_group(
    old_group: Sequence[MemoryRecord], new_group: Sequence[MemoryRecord]
) -> Iterable[Supersession]:
    timeline = [*old_group, *new_group]
    first_new = len(old_group)
    token_sets = [tokens(m.content) for m in timeline]
    threshold = threshold_for(timeline[0].kind) if timeline else DEFAULT_THRESHOLD
    for i, older in enumerate(timeline):
        for j in range(max(i + 1, first_new), len(timeline)):
            if jaccard(token_sets[i], token_sets[j]) >= threshold:
                newer = timeline[j]
                yield Supersession(
                    memory_id=older.id,
                    superseded_by=newer.id,
                    valid_to=max(newer.valid_from, older.valid_from),
                )
                break
