"""Field types shared by the wire models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, StringConstraints

SubjectId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
JsonObject = dict[str, Any]


def _iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a trailing ``Z``, as the reference server sends."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_z, return_type=str)]
