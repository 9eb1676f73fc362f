"""Time-ordered row ids (UUID version 7), so rows written together sort as written.

Episodes of one batch share their recorded time (as with the original server); their ids
then break the tie in every ordering (timeline, compilation, neighbours) in the order the
client sent them. Ids stay as unguessable as ``uuid4`` in their 62 random low bits.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF  # the 12 bits after the version nibble


def time_ordered_uuid() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, a 12-bit counter, 62 random bits; strictly
    increasing within this process (the counter, then the millisecond, moves on)."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _counter = now_ms, 0
        elif _counter < _COUNTER_MAX:
            _counter += 1
        else:
            _last_ms, _counter = _last_ms + 1, 0
        stamp, count = _last_ms, _counter
    value = (stamp & (2**48 - 1)) << 80
    value |= 0x7 << 76 | count << 64
    value |= 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)
