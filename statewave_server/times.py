"""The range of event times Statewave accepts, and the one clamp for rows outside it.

PostgreSQL stores the extremes of Python's ``datetime`` as ``±infinity`` (and asyncpg
reads those back as naive ``datetime.min``/``max``, which cannot be compared with aware
times or shifted without overflow). So times from clients must lie well inside both
ranges, with room for the arithmetic done on them (snapshot restores shift times).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime

EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def in_range(value: datetime) -> datetime:
    """``value`` unchanged, or ValueError when it lies outside [EARLIEST, LATEST]."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"time must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def clamped(value: datetime) -> datetime:
    """An aware time inside [EARLIEST, LATEST]: a row stored before these bounds existed
    (``±infinity``, read back naive) is read as the nearest bound instead of breaking
    every reader of its subject."""
    if value.tzinfo is None:
        return EARLIEST if value <= EARLIEST.replace(tzinfo=None) else LATEST
    return min(max(value, EARLIEST), LATEST)


EventTime = Annotated[AwareDatetime, AfterValidator(in_range)]
