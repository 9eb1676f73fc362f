"""Writing a :class:`SubjectContent` into a (tenant, subject): the one ingest routine behind
backup import, snapshots, clone, starter packs and payload import.

Ids are preserved (re-importing the same document adds nothing: rows whose id the target
already holds are skipped) or remapped (fresh ids, memory sources follow their episodes).
Sessions, event times, idempotency keys, resolutions and the health cache survive.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.admin_queries import subject_rows as rows_repo
from statewave_server.db.models import Episode, Memory, Resolution
from statewave_server.errors import Conflict, PayloadTooLarge
from statewave_server.services.admin.backup_format import MemoryRecord, SubjectContent
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
    tenant_id: str,
    subject_id: str,
    *,
    preserve_ids: bool,
    embedded: int = 0,
) -> IngestResult:
    """Insert ``content`` into (``tenant_id``, ``subject_id``) in the caller's transaction."""
    if len(content.episodes) > MAX_RECORDS or len(content.memories) > MAX_RECORDS:
        raise PayloadTooLarge(f"At most {MAX_RECORDS} episodes and {MAX_RECORDS} memories")
    episode_ids = [e.id for e in content.episodes]
    memory_ids = [m.id for m in content.memories]
    resolution_ids = [r.id for r in content.resolutions]
    skip_e: set[uuid.UUID] = set()
    skip_m: set[uuid.UUID] = set()
    skip_r: set[uuid.UUID] = set()
    if preserve_ids:
        await _refuse_foreign_ids(session, tenant_id, subject_id, episode_ids, memory_ids)
        skip_e = await rows_repo.existing_ids(session, Episode, tenant_id, subject_id, episode_ids)
        skip_m = await rows_repo.existing_ids(session, Memory, tenant_id, subject_id, memory_ids)
        skip_r = await rows_repo.existing_ids(
            session, Resolution, tenant_id, subject_id, resolution_ids
        )
    ids: dict[uuid.UUID, uuid.UUID] = {i: i for i in skip_e}
    new_episodes = [e for e in content.episodes if e.id not in skip_e]
    rows = [
        {
            "id": e.id if preserve_ids else uuid.uuid4(),
            "tenant_id": tenant_id,
            "subject_id": subject_id,
            "source": e.source,
            "type": e.type,
            "payload": e.payload,
            "metadata_": e.metadata,
            "provenance": e.provenance,
            "session_id": e.session_id,
            "occurred_at": e.occurred_at or e.created_at,
            "idempotency_key": e.idempotency_key,
            "created_at": e.created_at,
            "last_compiled_at": e.last_compiled_at,
        }
        for e in new_episodes
    ]
    inserted = await episode_repo.insert_episodes(session, rows) if rows else None
    stored = inserted.episodes if inserted is not None else []
    for record, episode in zip(new_episodes, stored, strict=True):
        ids[record.id] = episode.id
    memories = [
        _memory_row(m, tenant_id, subject_id, ids, preserve_ids)
        for m in content.memories
        if m.id not in skip_m
    ]
    await memory_repo.insert_memories(session, memories)
    resolutions = [
        {
            "id": r.id if preserve_ids else uuid.uuid4(),
            "tenant_id": tenant_id,
            "subject_id": subject_id,
            "session_id": r.session_id,
            "status": r.status,
            "resolution_summary": r.resolution_summary,
            "resolved_at": r.resolved_at,
            "metadata_": r.metadata,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in content.resolutions
        if r.id not in skip_r
    ]
    resolved = await rows_repo.insert_resolutions(session, resolutions)
    if content.health is not None:
        health = content.health.model_dump()
        await rows_repo.insert_health(
            session, {"tenant_id": tenant_id, "subject_id": subject_id, **health}
        )
    created = len(inserted.created) if inserted is not None else 0
    return IngestResult(
        subject_id=subject_id,
        tenant_id=tenant_id,
        episodes_imported=created,
        episodes_skipped=len(content.episodes) - created,
        memories_imported=len(memories),
        memories_skipped=len(content.memories) - len(memories),
        resolutions_imported=resolved,
        memories_embedded=embedded,
        ids_preserved=preserve_ids,
    )


def _memory_row(
    m: MemoryRecord,
    tenant_id: str,
    subject_id: str,
    ids: dict[uuid.UUID, uuid.UUID],
    preserve_ids: bool,
) -> dict[str, Any]:
    return {
        "id": m.id if preserve_ids else uuid.uuid4(),
        "tenant_id": tenant_id,
        "subject_id": subject_id,
        "kind": m.kind,
        "content": m.content,
        "summary": m.summary,
        "confidence": m.confidence,
        "valid_from": m.valid_from,
        "valid_to": m.valid_to,
        "source_episode_ids": [ids.get(s, s) for s in m.source_episode_ids],
        "metadata_": m.metadata,
        "status": m.status,
        "embedding": m.embedding,
        "embedding_model": m.embedding_model if m.embedding is not None else None,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


async def _refuse_foreign_ids(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    episode_ids: list[uuid.UUID],
    memory_ids: list[uuid.UUID],
) -> None:
    """Preserved ids must not already name another subject's rows (use remapping)."""
    for model, ids in ((Episode, episode_ids), (Memory, memory_ids)):
        taken = await rows_repo.ids_used_elsewhere(session, model, tenant_id, subject_id, ids)
        if taken:
            name = model.__tablename__
            raise Conflict(
                f"{taken} {name} id(s) in the document already belong to another subject; "
                "import with remapped ids (preserve_ids=false) instead",
                code="ids_in_use",
            )
