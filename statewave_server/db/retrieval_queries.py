"""Read-only queries behind ``POST /v1/context`` retrieval; every one scoped by subject.

* ``lexical_matches``: memories sharing a stemmed word with the task, with their stored
  ``tsvector`` (``content_tsv``; so the service can score them with BM25: ``ts_rank_cd``
  has no notion of how rare a word is), plus how many active memories the subject has;
* ``nearest_memories``: cosine nearest neighbours without loading their vectors;
* ``neighbour_episodes``: the episode just before and just after given ones (event time),
  the context a terse turn ("yes, last week!") needs to make sense.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from statewave_server.db import memories as memory_repo
from statewave_server.db.memories import VectorHit
from statewave_server.db.models import Episode, Memory

ACTIVE = "active"
_QUERY_LEXEME = re.compile(r"'((?:[^']|'')+)'")


@dataclass(frozen=True)
class LexicalDoc:
    """A matching memory's id, the frequency of each query lexeme it holds, its length."""

    id: uuid.UUID
    terms: dict[str, int]
    length: int


@dataclass(frozen=True)
class LexicalMatches:
    query_terms: tuple[str, ...]
    docs: list[LexicalDoc]
    total_docs: int


def query_term_counts(value: str, terms: Sequence[str]) -> tuple[dict[str, int], int]:
    """From a ``tsvector`` text: the frequency of each of ``terms`` it holds, and its
    length in positions. String search only — documents are many, query terms few."""
    counts: dict[str, int] = {}
    for term in terms:
        key = "'" + term.replace("'", "''") + "':"
        at = value.find(key)
        while at > 0 and value[at - 1] != " ":
            at = value.find(key, at + 1)
        if at >= 0:
            start = at + len(key)
            end = value.find(" ", start)
            counts[term] = value.count(",", start, end if end >= 0 else len(value)) + 1
    return counts, value.count(",") + value.count("':")


def parse_tsquery_terms(value: str) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(m.group(1).replace("''", "'") for m in _QUERY_LEXEME.finditer(value))
    )


_LEXICAL_SQL = text(
    """
    WITH q AS (
        SELECT replace(plainto_tsquery('english', :task)::text, '&', '|') AS qtext
    )
    SELECT m.id, m.content_tsv::text AS doc, q.qtext,
           (SELECT count(*) FROM memories c
             WHERE c.tenant_id = :tenant AND c.subject_id = :subject
               AND c.status = 'active') AS total
    FROM q, memories m
    WHERE q.qtext <> ''
      AND m.tenant_id = :tenant AND m.subject_id = :subject AND m.status = 'active'
      AND m.content_tsv @@ q.qtext::tsquery
    LIMIT :limit
    """
)


async def lexical_matches(
    session: AsyncSession, tenant_id: str, subject_id: str, task: str, *, limit: int
) -> LexicalMatches:
    """Active memories sharing any stemmed word with ``task`` (at most ``limit``)."""
    rows = (
        await session.execute(
            _LEXICAL_SQL,
            {"task": task, "tenant": tenant_id, "subject": subject_id, "limit": limit},
        )
    ).all()
    if not rows:
        return LexicalMatches((), [], 0)
    query_terms = parse_tsquery_terms(str(rows[0][2]))
    docs = []
    for row in rows:
        counts, length = query_term_counts(str(row[1]), query_terms)
        docs.append(LexicalDoc(row[0], counts, length))
    return LexicalMatches(query_terms, docs, int(rows[0][3]))


async def nearest_memories(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    vector: Sequence[float],
    *,
    model: str,
    limit: int,
) -> list[VectorHit]:
    """Active memories embedded by ``model``, nearest first; vectors are not loaded."""
    return await memory_repo.nearest(
        session, tenant_id, subject_id, vector, model=model, kind=None, limit=limit
    )


async def newest_by_kind(
    session: AsyncSession, tenant_id: str, subject_id: str, limits: Mapping[str, int]
) -> list[Memory]:
    """The newest active memories of each kind (``kind → limit``), kinds in the given
    order, newest first within a kind; one round trip, vectors not loaded."""
    parts = [
        select(Memory.id, literal(position).label("part"), Memory.created_at)
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
            Memory.kind == kind,
        )
        .order_by(Memory.created_at.desc(), Memory.id)
        .limit(limit)
        for position, (kind, limit) in enumerate(limits.items())
    ]
    if not parts:
        return []
    chosen = union_all(*parts).subquery()
    statement = (
        select(Memory)
        .options(defer(Memory.embedding))
        .join(chosen, chosen.c.id == Memory.id)
        .where(Memory.tenant_id == tenant_id, Memory.subject_id == subject_id)
        .order_by(chosen.c.part, Memory.created_at.desc(), Memory.id)
    )
    return list((await session.scalars(statement)).all())


async def memories_by_ids(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> list[Memory]:
    """Active memories with these ids (vectors not loaded), in no particular order."""
    if not ids:
        return []
    statement = (
        select(Memory)
        .options(defer(Memory.embedding))
        .where(
            Memory.tenant_id == tenant_id,
            Memory.subject_id == subject_id,
            Memory.status == ACTIVE,
            Memory.id.in_(list(ids)),
        )
    )
    return list((await session.scalars(statement)).all())


_NEIGHBOURS_SQL = text(
    """
    SELECT e.id AS anchor, n.id AS neighbour
    FROM episodes e
    CROSS JOIN LATERAL (
        (SELECT p.id FROM episodes p
          WHERE p.tenant_id = e.tenant_id AND p.subject_id = e.subject_id
            AND (p.occurred_at, p.id) < (e.occurred_at, e.id)
          ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1)
        UNION ALL
        (SELECT f.id FROM episodes f
          WHERE f.tenant_id = e.tenant_id AND f.subject_id = e.subject_id
            AND (f.occurred_at, f.id) > (e.occurred_at, e.id)
          ORDER BY f.occurred_at, f.id LIMIT 1)
    ) n
    WHERE e.tenant_id = :tenant AND e.subject_id = :subject AND e.id = ANY(:ids)
    """
)


async def neighbour_episodes(
    session: AsyncSession, tenant_id: str, subject_id: str, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[uuid.UUID]], list[Episode]]:
    """Per given episode, the ids of the episodes just before/after it; and those rows."""
    if not ids:
        return {}, []
    rows = (
        await session.execute(
            _NEIGHBOURS_SQL, {"tenant": tenant_id, "subject": subject_id, "ids": list(ids)}
        )
    ).all()
    around: dict[uuid.UUID, list[uuid.UUID]] = {}
    for anchor, neighbour in rows:
        around.setdefault(anchor, []).append(neighbour)
    wanted = list({n for ns in around.values() for n in ns})
    if not wanted:
        return around, []
    statement = select(Episode).where(
        Episode.tenant_id == tenant_id, Episode.subject_id == subject_id, Episode.id.in_(wanted)
    )
    return around, list((await session.scalars(statement)).all())
