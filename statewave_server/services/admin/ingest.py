"""Writing a :class:`SubjectContent` into a (tenant, subject): the one ingest routine behind
backup import, snapshots, clone, starter packs and payload import.

Ids are preserved (re-importing the same document adds nothing: rows whose id the target
already holds are skipped) or remapped (fresh ids, memory sources follow their episodes).
Sessions, event times, idempotency keys, resolutions and the health cache survive.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import subject_rows as rows_repo
from statewave_server.db.models import Episode, Memory, Resolution
from statewave_server.db.rows import NewEpisodeRow, NewHealthRow, NewMemoryRow, NewResolutionRow
from statewave_server.errors import Conflict, PayloadTooLarge
from statewave_server.services.admin.backup_format import (
    EpisodeRecord,
    HealthRecord,
    MemoryRecord,
    ResolutionRecord,
    SubjectContent,
)
from statewave_server.services.embeddings import EmbeddingProvider

#: Episodes (and, separately, memories) one import may write (413 beyond).
MAX_RECORDS = 50_000


@dataclass(frozen=True)
class IngestResult:
    subject_id: str
    tenant_id: str
    episodes_imported: int
    episodes_skipped: int
    memories_imported: int
    memories_skipped: int
    resolutions_imported: int
    memories_embedded: int
    ids_preserved: bool


async def embed_missing(
    content: SubjectContent, embedder: EmbeddingProvider | None
) -> tuple[SubjectContent, int]:
    """Give memories without a vector one from ``embedder`` (call outside transactions)."""
    todo = [i for i, m in enumerate(content.memories) if m.embedding is None and m.content]
    if embedder is None or not todo:
        return content, 0
    vectors = await embedder.embed_texts([content.memories[i].content for i in todo])
    memories = list(content.memories)
    for i, vector in zip(todo, vectors, strict=True):
        memories[i] = memories[i].model_copy(
            update={"embedding": list(vector), "embedding_model": embedder.model}
        )
    return content.model_copy(update={"memories": memories}), len(todo)


async def write_content(
    session: AsyncSession,
    content: SubjectContent,
    *,
    tenant_id: str,
    subject_id: str,
    preserve_ids: bool,
    embedded: int = 0,
) -> IngestResult:
    """Insert ``content`` into (``tenant_id``, ``subject_id``) in the caller's transaction."""
    if len(content.episodes) > MAX_RECORDS or len(content.memories) > MAX_RECORDS:
        raise PayloadTooLarge(f"At most {MAX_RECORDS} episodes and {MAX_RECORDS} memories")
    to = _Target(tenant_id, subject_id, preserve_ids)
    stored = await _already_stored(session, content, to) if preserve_ids else _Stored()
    episodes = [e for e in content.episodes if e.id not in stored.episodes]
    inserted = await episode_repo.insert_episodes(session, [_episode(e, to) for e in episodes])
    ids = {i: i for i in stored.episodes}
    ids.update((e.id, row.id) for e, row in zip(episodes, inserted.episodes, strict=True))
    memories = [_memory(m, to, ids) for m in content.memories if m.id not in stored.memories]
    await memory_repo.insert_memories(session, memories)
    resolved = await rows_repo.insert_resolutions(
        session, [_resolution(r, to) for r in content.resolutions if r.id not in stored.resolutions]
    )
    if content.health is not None:
        await rows_repo.insert_health(session, _health(content.health, to))
    return IngestResult(
        subject_id=subject_id,
        tenant_id=tenant_id,
        episodes_imported=len(inserted.created),
        episodes_skipped=len(content.episodes) - len(inserted.created),
        memories_imported=len(memories),
        memories_skipped=len(content.memories) - len(memories),
        resolutions_imported=resolved,
        memories_embedded=embedded,
        ids_preserved=preserve_ids,
    )


@dataclass(frozen=True)
class _Target:
    """Where the content goes, and whether its rows keep their ids there."""

    tenant_id: str
    subject_id: str
    preserve_ids: bool

    def id(self, old: uuid.UUID) -> uuid.UUID:
        return old if self.preserve_ids else uuid.uuid4()


@dataclass(frozen=True)
class _Stored:
    """The ids of the document that the target subject already holds (skipped)."""

    episodes: set[uuid.UUID] = field(default_factory=set)
    memories: set[uuid.UUID] = field(default_factory=set)
    resolutions: set[uuid.UUID] = field(default_factory=set)


async def _already_stored(session: AsyncSession, content: SubjectContent, to: _Target) -> _Stored:
    episode_ids = [e.id for e in content.episodes]
    memory_ids = [m.id for m in content.memories]
    await _refuse_foreign_ids(
        session,
        tenant_id=to.tenant_id,
        subject_id=to.subject_id,
        episode_ids=episode_ids,
        memory_ids=memory_ids,
    )

    async def held(model: rows_repo.SubjectModel, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return await rows_repo.existing_ids(
            session, model, tenant_id=to.tenant_id, subject_id=to.subject_id, ids=ids
        )

    return _Stored(
        episodes=await held(Episode, episode_ids),
        memories=await held(Memory, memory_ids),
        resolutions=await held(Resolution, [r.id for r in content.resolutions]),
    )


def _episode(e: EpisodeRecord, to: _Target) -> NewEpisodeRow:
    return NewEpisodeRow(
        id=to.id(e.id),
        tenant_id=to.tenant_id,
        subject_id=to.subject_id,
        source=e.source,
        type=e.type,
        payload=e.payload,
        metadata=e.metadata,
        provenance=e.provenance,
        session_id=e.session_id,
        occurred_at=e.occurred_at or e.created_at,
        idempotency_key=e.idempotency_key,
        created_at=e.created_at,
        last_compiled_at=e.last_compiled_at,
    )


def _memory(m: MemoryRecord, to: _Target, episode_ids: dict[uuid.UUID, uuid.UUID]) -> NewMemoryRow:
    """The memory's sources follow their episodes' new ids."""
    return NewMemoryRow(
        id=to.id(m.id),
        tenant_id=to.tenant_id,
        subject_id=to.subject_id,
        kind=m.kind,
        content=m.content,
        summary=m.summary,
        confidence=m.confidence,
        valid_from=m.valid_from,
        valid_to=m.valid_to,
        source_episode_ids=[episode_ids.get(s, s) for s in m.source_episode_ids],
        metadata=m.metadata,
        status=m.status,
        embedding=m.embedding,
        embedding_model=m.embedding_model if m.embedding is not None else None,
        created_at=m.created_at,
        updated_at=m.updated_at,
    )


def _resolution(r: ResolutionRecord, to: _Target) -> NewResolutionRow:
    return NewResolutionRow(
        id=to.id(r.id),
        tenant_id=to.tenant_id,
        subject_id=to.subject_id,
        session_id=r.session_id,
        status=r.status,
        resolution_summary=r.resolution_summary,
        resolved_at=r.resolved_at,
        metadata=r.metadata,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _health(h: HealthRecord, to: _Target) -> NewHealthRow:
    return NewHealthRow(
        tenant_id=to.tenant_id,
        subject_id=to.subject_id,
        last_state=h.last_state,
        last_score=h.last_score,
        factors=h.factors,
        updated_at=h.updated_at,
    )


async def _refuse_foreign_ids(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    episode_ids: list[uuid.UUID],
    memory_ids: list[uuid.UUID],
) -> None:
    """Preserved ids must not already name another subject's rows (use remapping)."""
    for model, ids in ((Episode, episode_ids), (Memory, memory_ids)):
        taken = await rows_repo.ids_used_elsewhere(
            session, model, tenant_id=tenant_id, subject_id=subject_id, ids=ids
        )
        if taken:
            name = model.__tablename__
            raise Conflict(
                f"{taken} {name} id(s) in the document already belong to another subject; "
                "import with fresh ids instead (statewave import --remap-ids, "
                "or preserve_ids=false in the API)",
                code="ids_in_use",
            )
