"""Announcing writes to ``memories``, so every process's in-memory index stays exact.

Each write to a subject's memories calls ``announce`` inside its transaction. That does
two things: a ``pg_notify`` on ``CHANNEL``, which PostgreSQL delivers to every listening
process if and only if the transaction commits; and a note on the session, delivered to
this process's subscribers synchronously right after the commit (before the response
that acknowledges the write is sent), so a client always reads its own writes. (The
listener skips notifications from its own process: those were delivered already.)
"""

from __future__ import annotations

import json
import os
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

CHANNEL = "statewave_memory_changes"
# pg_notify payloads are capped at 8,000 bytes: beyond this many ids, say "the subject".
MAX_IDS = 150
_PENDING = "statewave_memory_changes"


_origin: tuple[int, str] = (0, "")


def this_process() -> str:
    """An id of this process, new after a fork (a forked worker is another listener)."""
    global _origin
    if _origin[0] != os.getpid():
        _origin = (os.getpid(), uuid.uuid4().hex)
    return _origin[1]


@dataclass(frozen=True)
class MemoryChange:
    """Which memories of a subject changed; ``ids=None`` means any of them may have."""

    tenant_id: str
    subject_id: str
    ids: frozenset[uuid.UUID] | None = None
    origin: str = ""  # the announcing process (``this_process``)

    def to_payload(self) -> str:
        ids = None if self.ids is None else sorted(str(i) for i in self.ids)
        return json.dumps({"t": self.tenant_id, "s": self.subject_id, "ids": ids, "o": self.origin})

    @classmethod
    def from_payload(cls, payload: str) -> MemoryChange | None:
        """The change a payload describes; ``None`` for one this version cannot read."""
        try:
            data = json.loads(payload)
            ids = data["ids"]
            return cls(
                str(data["t"]),
                str(data["s"]),
                None if ids is None else frozenset(uuid.UUID(i) for i in ids),
                str(data.get("o", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None


class ChangeSubscriber(Protocol):
    def notice(self, change: MemoryChange) -> None: ...


# Weak: an index that is gone (a finished test's app, say) stops hearing changes.
_subscribers: weakref.WeakSet[ChangeSubscriber] = weakref.WeakSet()


def subscribe(subscriber: ChangeSubscriber) -> None:
    """Hear every change this process commits, right after its commit."""
    _subscribers.add(subscriber)


async def announce(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    ids: Iterable[uuid.UUID] | None = None,
) -> None:
    """Record, in the session's transaction, that these memories of the subject changed
    (``ids=None``: any of them)."""
    id_set = None if ids is None else frozenset(ids)
    if id_set is not None and len(id_set) > MAX_IDS:
        id_set = None
    if id_set is not None and not id_set:
        return
    change = MemoryChange(tenant_id, subject_id, id_set, this_process())
    await session.execute(select(func.pg_notify(CHANNEL, change.to_payload())))
    session.sync_session.info.setdefault(_PENDING, []).append(change)


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    for change in session.info.pop(_PENDING, ()):
        for subscriber in list(_subscribers):
            subscriber.notice(change)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
