"""Typed new rows: what services hand to the repositories' inserts.

One frozen dataclass per table, built with keywords, so mypy checks every column name and
the tenant and subject can never swap places. The repositories turn a row into ORM
attribute names (:func:`attribute_values`); ``metadata_``, the attribute that keeps the
``metadata`` column clear of ``DeclarativeBase.metadata``, never leaves ``db/``.

A ``None`` in ``created_at``, ``updated_at`` or ``valid_from`` means "now": the column's
server default applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from statewave_server.db.ids import time_ordered_uuid

#: Fields whose ORM attribute has another name.
_ATTRIBUTE = {"metadata": "metadata_"}
#: Timestamp fields left to their server default (``now()``) when None.
_SERVER_DEFAULT_WHEN_NONE = frozenset({"created_at", "updated_at", "valid_from"})


def _json() -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEpisodeRow:
    """An ``episodes`` row; the default id is time-ordered, so a batch sorts as sent."""

    tenant_id: str
    subject_id: str
    source: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime
    metadata: dict[str, Any] = field(default_factory=_json)
    provenance: dict[str, Any] = field(default_factory=_json)
    session_id: str | None = None
    idempotency_key: str | None = None
    id: uuid.UUID = field(default_factory=time_ordered_uuid)
    created_at: datetime | None = None
    last_compiled_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMemoryRow:
    """A ``memories`` row (``embedding_model`` names the model of ``embedding``)."""

    tenant_id: str
    subject_id: str
    kind: str
    content: str
    source_episode_ids: list[uuid.UUID]
    summary: str = ""
    confidence: float = 1.0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=_json)
    status: str = "active"
    embedding: list[float] | None = None
    embedding_model: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewResolutionRow:
    """A ``resolutions`` row, as a backup or snapshot carries it."""

    tenant_id: str
    subject_id: str
    session_id: str
    status: str
    resolution_summary: str | None
    resolved_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewHealthRow:
    """A ``subject_health_cache`` row, as a backup carries it."""

    tenant_id: str
    subject_id: str
    last_state: str
    last_score: int
    factors: list[dict[str, Any]]
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSnapshotRow:
    """A ``subject_snapshots`` row: the snapshot's copy lives under ``source_subject_id``."""

    tenant_id: str
    name: str
    version: int
    source_subject_id: str
    episode_count: int
    memory_count: int
    metadata: dict[str, Any]


NewRow = NewEpisodeRow | NewMemoryRow | NewResolutionRow | NewHealthRow | NewSnapshotRow

#: Per row class and field: the field's name, its ORM attribute, and whether a None leaves
#: the column's server default.
_LAYOUT: dict[type[NewRow], tuple[tuple[str, str, bool], ...]] = {
    kind: tuple(
        (f.name, _ATTRIBUTE.get(f.name, f.name), f.name in _SERVER_DEFAULT_WHEN_NONE)
        for f in fields(kind)
    )
    for kind in (NewEpisodeRow, NewMemoryRow, NewResolutionRow, NewHealthRow, NewSnapshotRow)
}


def attribute_values(row: NewRow, *, now: datetime | None = None) -> dict[str, Any]:
    """The row as ORM attribute names and values, ready for an ``insert(Model)``. A None
    timestamp is left out (the server default applies), or is ``now`` when given."""
    values: dict[str, Any] = {}
    for name, attribute, defaulted in _LAYOUT[type(row)]:
        value = getattr(row, name)
        if value is None and defaulted:
            if now is None:
                continue
            value = now
        values[attribute] = value
    return values
