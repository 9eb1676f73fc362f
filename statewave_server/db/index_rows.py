"""What an in-memory index of one subject's active memories is built from.

One row per active memory: its kind, time, text, the stemmed lexemes PostgreSQL already
stored (``content_tsv``), and its vector in pgvector's binary form, which becomes a
numpy row without parsing text. Vectors of other models are left out (never compared).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Text,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.memories import ACTIVE
from statewave_server.db.models import Memory

_QUERY_LEXEME = re.compile(r"'((?:[^']|'')+)'")
_TSCONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")


@dataclass(frozen=True)
class IndexRow:
    id: uuid.UUID
    kind: str
    created_at: datetime
    content: str
    lexemes: str  # content_tsv as text: "'paint':3,7 'sunris':5"
    vector: bytes | None  # pgvector's binary send format, for the wanted model only


async def index_rows(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    model: str | None,
    ids: Sequence[uuid.UUID] | None = None,
) -> list[IndexRow]:
    """The subject's active memories (only those of ``ids`` when given)."""
    vector: ColumnElement[Any] = (
        cast(
            case((Memory.embedding_model == model, func.vector_send(Memory.embedding))), LargeBinary
        )
        if model is not None
        else null()
    )
    statement = select(
        Memory.id,
        Memory.kind,
        Memory.created_at,
        Memory.content,
        func.coalesce(cast(Memory.content_tsv, Text), ""),
        vector,
    ).where(
        Memory.tenant_id == tenant_id,
        Memory.subject_id == subject_id,
        Memory.status == ACTIVE,
    )
    if ids is not None:
        statement = statement.where(Memory.id.in_(list(ids)))
    rows = (await session.execute(statement)).all()
    return [IndexRow(*row) for row in rows]


async def query_lexemes(session: AsyncSession, query: str) -> tuple[str, ...]:
    """The stemmed words of ``query`` as the stored ``content_tsv`` spells them."""
    value = await session.scalar(select(cast(func.plainto_tsquery(_TSCONFIG, query), Text)))
    return parse_tsquery_terms(str(value or ""))


def parse_tsquery_terms(value: str) -> tuple[str, ...]:
    """The distinct lexemes of a ``tsquery``'s text form, in order."""
    return tuple(
        dict.fromkeys(m.group(1).replace("''", "'") for m in _QUERY_LEXEME.finditer(value))
    )
