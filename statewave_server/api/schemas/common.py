"""Field types shared by the wire models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
)

# PostgreSQL text and jsonb cannot hold U+0000: such input is a 422, not a database error.
NO_NUL = r"^[^\x00]*$"


def _reject_nul(value: Any) -> Any:
    """``value`` unchanged, or ValueError if any string or key in it contains U+0000."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text must not contain the NUL character (U+0000)")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return value


SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NO_NUL)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_reject_nul)]
# A stored row's metadata, read from the ORM row (whose attribute is ``metadata_``) or a dict.
StoredMetadata = Annotated[
    JsonObject, Field(validation_alias=AliasChoices("metadata_", "metadata"))
]


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


# An optional session where ``""`` means "no session", as the original server accepted it.
OptionalSessionId = Annotated[SessionId | None, BeforeValidator(_empty_is_none)]


def _iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a trailing ``Z``, as the reference server sends."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_z, return_type=str)]


# Paging: an offset past any real table size is a client error, not a database overflow.
MAX_OFFSET = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
