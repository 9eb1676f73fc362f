"""Subject snapshots (``STATEWAVE_ENABLE_SNAPSHOTS``): named, versioned, tenant-scoped
copies kept under the hidden subject ``_snapshot/<name>/v<version>``, restorable into any
subject with times shifted so the newest episode lands at the moment of restore."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import subjects as subject_repo
from statewave_server.db.admin_queries import snapshots as repo
from statewave_server.db.models import SubjectSnapshot
from statewave_server.db.rows import NewSnapshotRow
from statewave_server.errors import BadRequest, NotFound
from statewave_server.services.admin.backup import read_content
from statewave_server.services.admin.backup_format import SubjectContent
from statewave_server.services.admin.ingest import write_content


def require_enabled(enabled: bool) -> None:
    """Snapshots answer 404 unless the feature flag is on."""
    if not enabled:
        raise NotFound("Not found", code="snapshots_disabled")


def hidden_subject(name: str, version: int) -> str:
    return f"_snapshot/{name}/v{version}"


async def list_snapshots(
    db: async_sessionmaker[AsyncSession], tenant_id: str
) -> list[SubjectSnapshot]:
    async with db() as session:
        return await repo.list_snapshots(session, tenant_id)


@dataclass(frozen=True)
class Created:
    status: str  # "created" | "exists"
    snapshot: SubjectSnapshot | None
    name: str
    version: int


async def create_snapshot(
    db: async_sessionmaker[AsyncSession],
    tenant_id: str,
    *,
    name: str,
    source_subject_id: str,
    version: int = 1,
    metadata: dict[str, Any] | None = None,
) -> Created:
    """Copy the source subject (new ids, embeddings kept); ``exists`` if already taken."""
    async with db.begin() as session:
        if await repo.find_snapshot(session, tenant_id, name, version) is not None:
            return Created("exists", None, name, version)
        content = await read_content(session, tenant_id=tenant_id, subject_id=source_subject_id)
        if not content.episodes:
            raise BadRequest(f"Subject '{source_subject_id}' has no episodes to snapshot")
        hidden = hidden_subject(name, version)
        await subject_repo.delete_subject(session, tenant_id=tenant_id, subject_id=hidden)
        await write_content(
            session,
            content.model_copy(update={"health": None}),
            tenant_id=tenant_id,
            subject_id=hidden,
            preserve_ids=False,
        )
        row = await repo.insert_snapshot(
            session,
            NewSnapshotRow(
                tenant_id=tenant_id,
                name=name,
                version=version,
                source_subject_id=hidden,
                episode_count=len(content.episodes),
                memory_count=len(content.memories),
                metadata={**(metadata or {}), subject_repo.SNAPSHOT_SOURCE_KEY: source_subject_id},
            ),
        )
    return Created("created" if row else "exists", row, name, version)


@dataclass(frozen=True)
class Restored:
    subject_id: str
    episodes_restored: int
    memories_restored: int
    resolutions_restored: int


async def restore_snapshot(
    db: async_sessionmaker[AsyncSession],
    tenant_id: str,
    target_subject_id: str,
    *,
    snapshot_id: uuid.UUID | None = None,
    name: str | None = None,
    version: int | None = None,
) -> Restored:
    """Copy a snapshot (by id, or by name and version — latest when None) into a subject."""
    async with db.begin() as session:
        if snapshot_id is not None:
            snapshot = await repo.get_snapshot(session, tenant_id, snapshot_id)
        else:
            snapshot = await repo.find_snapshot(session, tenant_id, name or "", version)
        if snapshot is None:
            raise NotFound("Snapshot not found", code="snapshot_not_found")
        content = await read_content(
            session, tenant_id=tenant_id, subject_id=snapshot.source_subject_id
        )
        shifted = _shift(content, str(snapshot.id), datetime.now(UTC))
        result = await write_content(
            session, shifted, tenant_id=tenant_id, subject_id=target_subject_id, preserve_ids=False
        )
    return Restored(
        target_subject_id,
        result.episodes_imported,
        result.memories_imported,
        result.resolutions_imported,
    )


async def delete_snapshot(
    db: async_sessionmaker[AsyncSession], tenant_id: str, snapshot_id: uuid.UUID
) -> None:
    async with db.begin() as session:
        snapshot = await repo.get_snapshot(session, tenant_id, snapshot_id)
        if snapshot is None:
            raise NotFound("Snapshot not found", code="snapshot_not_found")
        await subject_repo.delete_subject(
            session, tenant_id=tenant_id, subject_id=snapshot.source_subject_id
        )
        await repo.delete_snapshot_row(session, tenant_id, snapshot_id)


def _shift(content: SubjectContent, snapshot_id: str, now: datetime) -> SubjectContent:
    """Times moved by (now − newest episode); provenance records the snapshot."""
    newest = max((e.created_at for e in content.episodes), default=now)
    delta = now - newest
    mark = {"restored_from_snapshot": snapshot_id}

    def move(value: datetime | None) -> datetime | None:
        return None if value is None else value + delta

    def moved(value: datetime) -> datetime:
        return value + delta

    episodes = [
        e.model_copy(
            update={
                "created_at": moved(e.created_at),
                "occurred_at": move(e.occurred_at),
                "last_compiled_at": move(e.last_compiled_at),
                "provenance": {**e.provenance, **mark, "original_episode_id": str(e.id)},
            }
        )
        for e in content.episodes
    ]
    memories = [
        m.model_copy(
            update={
                "valid_from": moved(m.valid_from),
                "valid_to": move(m.valid_to),
                "created_at": moved(m.created_at),
                "updated_at": moved(m.updated_at),
                "metadata": {**m.metadata, **mark},
            }
        )
        for m in content.memories
    ]
    resolutions = [
        r.model_copy(
            update={
                "created_at": moved(r.created_at),
                "updated_at": moved(r.updated_at),
                "resolved_at": move(r.resolved_at),
                "metadata": {**r.metadata, **mark},
            }
        )
        for r in content.resolutions
    ]
    return content.model_copy(
        update={
            "episodes": episodes,
            "memories": memories,
            "resolutions": resolutions,
            "health": None,
        }
    )
