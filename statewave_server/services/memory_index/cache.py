"""Per-process cache of subject indexes, kept exact by the memory-change announcements.

An index is reused only while this process is hearing every change (the listener is
live): each change marks the memories it names, and the next reader re-reads just
those rows (or the whole subject when the change names none). Before reusing an index,
a reader waits until every change committed before it arrived has been heard
(``MemoryChangeListener.heard_everything``: one ``SELECT 1`` round trip on the listener
connection, shared by concurrent readers), so a read that starts after any process
acknowledged a write sees it. A change committed while an index was being read is
noticed during the read and applied by the next reader. Without a live listener nothing
is cached: every reader builds a fresh index, which is slower but never stale. Entries
expire after ``ttl_seconds`` (writes made outside Statewave, with psql say, are seen by
then) and are evicted least recently used beyond ``max_bytes``. A kept index reads its
rows from the primary even when the request reads from a replica
(``db/read_routing.py``): a mark cleared by a re-read on a replica that has not yet
replayed the change would leave the old row in the index.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import memory_changes
from statewave_server.db.index_rows import IndexRow, index_rows
from statewave_server.db.memory_change_listener import MemoryChangeListener
from statewave_server.db.memory_changes import MemoryChange
from statewave_server.db.read_routing import on_primary
from statewave_server.services.memory_index.subject_index import SubjectIndex

log = structlog.get_logger(__name__)

Key = tuple[str, str, str | None]  # tenant, subject, embedding model
BUILD_IN_THREAD_ROWS = 1_000


@dataclass
class _Slot:
    built_at: float
    index: SubjectIndex | None = None
    stale_ids: set[uuid.UUID] = field(default_factory=set)
    stale_all: bool = False


class MemoryIndexCache:
    def __init__(self, *, max_bytes: int, ttl_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._slots: OrderedDict[Key, _Slot] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[Key, asyncio.Lock] = weakref.WeakValueDictionary()
        self._listener: MemoryChangeListener | None = None
        self._models: set[str | None] = set()  # every model asked for (a handful at most)
        memory_changes.subscribe(self)

    @property
    def live(self) -> bool:
        """Whether indexes are being reused (every change is being heard)."""
        return self._listener is not None and self._listener.live

    @property
    def nbytes(self) -> int:
        return sum(s.index.nbytes for s in self._slots.values() if s.index is not None)

    async def get(
        self, session: AsyncSession, *, tenant_id: str, subject_id: str, model: str | None
    ) -> SubjectIndex:
        """The subject's index of active memories (vectors of ``model`` only)."""
        key = (tenant_id, subject_id, model)
        self._models.add(model)
        # Only worth the round trip when there is something to reuse; a reader that skips
        # it never reuses (another reader may register a slot meanwhile).
        heard = key in self._slots and await self._heard_everything()
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            slot = self._slots.get(key)
            if heard and slot is not None and slot.index is not None and self._fresh(slot):
                self._slots.move_to_end(key)
                index = await self._caught_up(session, key, slot, slot.index)
                if index is not None:
                    return index
            return await self._rebuilt(session, key)

    async def _heard_everything(self) -> bool:
        return self._listener is not None and await self._listener.heard_everything()

    async def _caught_up(
        self, session: AsyncSession, key: Key, slot: _Slot, index: SubjectIndex
    ) -> SubjectIndex | None:
        """The slot's index with its marked memories re-read (``None``: rebuild instead)."""
        if not slot.stale_ids:
            return index
        if len(slot.stale_ids) > len(index) // 4 + 10:
            return None
        ids, slot.stale_ids = slot.stale_ids, set()
        async with on_primary(session) as primary:
            rows = await _read(primary, key, ids=list(ids))
        slot.index = index.changed(ids, rows)
        return slot.index

    async def _rebuilt(self, session: AsyncSession, key: Key) -> SubjectIndex:
        # Registered before reading, so changes committed during the read are noted.
        slot = _Slot(built_at=time.monotonic())
        kept = self.live
        if kept:
            self._slots[key] = slot
            self._slots.move_to_end(key)
        async with on_primary(session) if kept else nullcontext(session) as source:
            rows = await _read(source, key)
        # Parsing 10,000 rows takes ~0.1 s of CPU: off the event loop, so other requests
        # keep being served meanwhile (small subjects are not worth the thread hop).
        if len(rows) > BUILD_IN_THREAD_ROWS:
            slot.index = await asyncio.to_thread(SubjectIndex.from_rows, rows)
        else:
            slot.index = SubjectIndex.from_rows(rows)
        self._evict()
        return slot.index

    def notice(self, change: MemoryChange) -> None:
        """A change committed somewhere: mark what it touched (any model's index)."""
        for model in self._models:
            slot = self._slots.get((change.tenant_id, change.subject_id, model))
            if slot is None:
                continue
            if change.ids is None:
                slot.stale_all = True
            else:
                slot.stale_ids.update(change.ids)

    def forget_all(self) -> None:
        """Changes may have gone unheard: trust nothing held."""
        self._slots.clear()

    @asynccontextmanager
    async def following(self, listen_url: str | None) -> AsyncIterator[None]:
        """Listen for changes (and so reuse indexes) for the duration of the block, on a
        session of ``listen_url`` (PostgreSQL itself, not a transaction-mode pooler;
        ``None``: nowhere to listen, so nothing is reused)."""
        if listen_url is None:
            log.warning("memory_index_not_reused", reason="no session-level database URL")
            yield
            return
        self._listener = MemoryChangeListener(listen_url, self.notice, self.forget_all)
        task = asyncio.create_task(self._listener.run(), name="memory-change-listener")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            self._listener = None
            self.forget_all()

    def _fresh(self, slot: _Slot) -> bool:
        return (
            self.live and not slot.stale_all and time.monotonic() - slot.built_at < self.ttl_seconds
        )

    def _evict(self) -> None:
        total = self.nbytes
        while total > self.max_bytes and self._slots:
            _, slot = self._slots.popitem(last=False)
            total -= slot.index.nbytes if slot.index is not None else 0


async def _read(
    session: AsyncSession, key: Key, ids: list[uuid.UUID] | None = None
) -> list[IndexRow]:
    tenant_id, subject_id, model = key
    return await index_rows(
        session, tenant_id=tenant_id, subject_id=subject_id, model=model, ids=ids
    )
