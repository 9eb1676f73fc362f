"""Episodes as context assembly reads them: every column but a payload of bounded size.

A payload can be megabytes; context needs a few hundred characters of its text. Small
payloads load whole; for a large one PostgreSQL extracts the text itself (the rule of
``compiler.drafts.episode_text``, over at most ``MAX_MESSAGES`` messages) and cuts it to
``text_chars`` before it crosses the wire, so no request parses, holds or returns the
rest. Which payloads are small is decided on their stored and serialised size. (The
text of a small payload is the service layer's to extract.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import String, Text, column, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import TextualSelect

from statewave_server.db.models import Timestamp

SMALL_PAYLOAD_BYTES: Final = 16_384
MAX_MESSAGES: Final = 200


@dataclass(frozen=True, slots=True)
class EpisodeView:
    """An episode with its payload when small (``payload``), else only the payload's text
    cut to ``text_chars`` (``cut_text``; ``payload`` is then None)."""

    id: uuid.UUID
    subject_id: str
    source: str
    type: str
    session_id: str | None
    occurred_at: datetime
    created_at: datetime
    metadata: dict[str, Any]
    provenance: dict[str, Any]
    payload: dict[str, Any] | None
    cut_text: str | None


_COLUMNS = """
    e.id, e.subject_id, e.source, e.type, e.session_id, e.occurred_at, e.created_at,
    e.metadata, e.provenance,
    CASE WHEN s.small THEN e.payload END AS small_payload,
    CASE WHEN NOT s.small THEN
      CASE WHEN jsonb_typeof(e.payload->'messages') = 'array' THEN (
        SELECT left(string_agg(
          CASE jsonb_typeof(m.value)
            WHEN 'string' THEN left(m.value #>> '{}', :chars)
            WHEN 'object' THEN coalesce(nullif(left(m.value->>'role', 64), '') || ': ', '')
              || left(coalesce(m.value->>'content', m.value->>'text'), :chars)
          END, E'\\n' ORDER BY m.ordinality), :chars)
        FROM (SELECT value, ordinality
                FROM jsonb_array_elements(e.payload->'messages') WITH ORDINALITY
               LIMIT :messages) m)
      ELSE left(coalesce(e.payload->>'text', e.payload->>'content', e.payload->>'message'), :chars)
      END
    END AS cut_text
"""
_SMALL = """
    CROSS JOIN LATERAL (SELECT pg_column_size(e.payload) <= :small
                           AND octet_length(e.payload::text) <= :small AS small) s
"""
# Positional: every selected column, in order (the JSON ones decode to dicts).
_RESULT_COLUMNS: list[ColumnClause[Any]] = [
    column("id", UUID(as_uuid=True)),
    *(column(name, String) for name in ("subject_id", "source", "type", "session_id")),
    # Timestamp clamps ±infinity rows (stored before the event-time bounds) like the ORM.
    *(column(name, Timestamp()) for name in ("occurred_at", "created_at")),
    *(column(name, JSONB) for name in ("metadata", "provenance", "small_payload")),
    column("cut_text", Text),
]


def _query(sql: str) -> TextualSelect:
    return text(f"SELECT {_COLUMNS} FROM episodes e {_SMALL} {sql}").columns(*_RESULT_COLUMNS)


_NEWEST = _query(
    "WHERE e.tenant_id = :tenant AND e.subject_id = :subject"
    " ORDER BY e.occurred_at DESC, e.created_at DESC, e.id DESC LIMIT :limit"
)
_BY_IDS = _query("WHERE e.tenant_id = :tenant AND e.subject_id = :subject AND e.id = ANY(:ids)")


async def newest_views(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int, text_chars: int
) -> list[EpisodeView]:
    """The newest ``limit`` episodes by event time, newest first (see module doc)."""
    params = {"tenant": tenant_id, "subject": subject_id, "limit": limit}
    return await _views(session, _NEWEST, params, text_chars)


async def views_by_ids(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    ids: Sequence[uuid.UUID],
    text_chars: int,
) -> list[EpisodeView]:
    """The subject's episodes among ``ids`` (any order; unknown ids are left out)."""
    if not ids:
        return []
    params = {"tenant": tenant_id, "subject": subject_id, "ids": list(ids)}
    return await _views(session, _BY_IDS, params, text_chars)


async def _views(
    session: AsyncSession, statement: TextualSelect, params: dict[str, Any], text_chars: int
) -> list[EpisodeView]:
    bounds = {"chars": text_chars, "messages": MAX_MESSAGES, "small": SMALL_PAYLOAD_BYTES}
    rows = (await session.execute(statement, {**params, **bounds})).mappings().all()
    return [
        EpisodeView(
            id=row["id"],
            subject_id=row["subject_id"],
            source=row["source"],
            type=row["type"],
            session_id=row["session_id"],
            occurred_at=row["occurred_at"],
            created_at=row["created_at"],
            metadata=row["metadata"],
            provenance=row["provenance"],
            payload=row["small_payload"],
            cut_text=None if row["small_payload"] is not None else row["cut_text"] or "",
        )
        for row in rows
    ]
