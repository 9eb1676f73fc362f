"""Time-ordered episode ids (UUID version 7 layout).

Clients often give a whole batch one ``occurred_at`` (a conversation's session date);
episodes are then ordered by ``(occurred_at, id)``. Random ids would shuffle such a batch
— its turns would lose their order for neighbours, digests and rendering — so the ids of
one batch increase in input order, and later batches sort after earlier ones.
"""

from __future__ import annotations

import secrets
import time
import uuid

_COUNTER_BITS = 74  # the 12 ``rand_a`` and 62 ``rand_b`` bits of UUIDv7, used as one counter


def ordered_uuids(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7 values sharing this millisecond, increasing in list order."""
    millis = time.time_ns() // 1_000_000
    start = secrets.randbits(_COUNTER_BITS - 1)  # lower half: ``start + count`` cannot wrap
    return [_uuid7(millis, start + offset) for offset in range(count)]


def _uuid7(millis: int, counter: int) -> uuid.UUID:
    rand_a, rand_b = counter >> 62, counter & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)
