"""Starter packs: demo subjects shipped as package data, importable from CLI and API.

Pack episodes carry symbolic ids (``ep-01``) that memories cite; on import every row
gets a fresh UUID, sources are remapped, sessions and resolutions are kept, event times
are placed relative to the import (``minutes_ago``), and memories are embedded.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.errors import NotFound
from statewave_server.packs import pack_files
from statewave_server.services.admin.backup_format import (
    EpisodeRecord,
    MemoryRecord,
    ResolutionRecord,
    SubjectContent,
)
from statewave_server.services.admin.ingest import IngestResult, embed_missing, write_content
from statewave_server.services.admin.targets import ConflictStrategy, resolve_target
from statewave_server.services.embeddings import EmbeddingProvider

FORMAT = "statewave-starter-pack"
MANIFEST_FIELDS = (
    "pack_id",
    "kind",
    "display_name",
    "description",
    "version",
    "created_at",
    "subject_id_suggestion",
    "tags",
)


def _load_all() -> dict[str, dict[str, Any]]:
    packs: dict[str, dict[str, Any]] = {}
    for entry in pack_files():
        data = json.loads(entry.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("format") == FORMAT:
            packs[str(data["pack_id"])] = data
    return packs


def list_packs() -> list[dict[str, Any]]:
    """Manifests of the bundled packs, with their record counts."""
    return [
        {
            **{name: pack.get(name) for name in MANIFEST_FIELDS},
            "episode_count": len(pack.get("episodes", [])),
            "memory_count": len(pack.get("memories", [])),
            "source_count": 0,
        }
        for pack in _load_all().values()
    ]


def load_pack(pack_id: str) -> dict[str, Any]:
    packs = _load_all()
    pack = packs.get(pack_id)
    if pack is None:
        available = ", ".join(sorted(packs)) or "none"
        raise NotFound(
            f"Starter pack '{pack_id}' not found; available: {available}", code="pack_not_found"
        )
    return pack


def pack_content(
    pack: dict[str, Any], now: datetime, extras: dict[str, Any] | None = None
) -> SubjectContent:
    """The pack as records with fresh ids, times relative to ``now``, ``extras`` merged
    into every row's metadata (and episodes' provenance)."""
    meta = {"starter_pack_id": pack["pack_id"], "starter_pack_version": pack["version"]}
    meta |= extras or {}
    ids: dict[str, uuid.UUID] = {}
    episodes = []
    for raw in pack.get("episodes", []):
        ids[raw["id"]] = new_id = uuid.uuid4()
        at = now - timedelta(minutes=float(raw.get("minutes_ago", 0)))
        episodes.append(
            EpisodeRecord(
                id=new_id,
                source=raw.get("source", "memory-pack"),
                type=raw.get("type", "message"),
                payload=raw.get("payload", {}),
                metadata={**raw.get("metadata", {}), **meta},
                provenance={"starter_pack_id": pack["pack_id"], "pack_episode_id": raw["id"]},
                session_id=raw.get("session_id"),
                occurred_at=at,
                created_at=at,
                last_compiled_at=now,
            )
        )
    memories = [
        MemoryRecord(
            id=uuid.uuid4(),
            kind=raw.get("kind", "profile_fact"),
            content=raw["content"],
            summary=raw.get("summary", raw["content"]),
            confidence=float(raw.get("confidence", 0.9)),
            valid_from=now,
            source_episode_ids=[ids[s] for s in raw.get("source_episode_ids", []) if s in ids],
            metadata={**raw.get("metadata", {}), **meta},
            created_at=now,
            updated_at=now,
        )
        for raw in pack.get("memories", [])
    ]
    resolutions = [
        ResolutionRecord(
            id=uuid.uuid4(),
            session_id=raw["session_id"],
            status=raw.get("status", "resolved"),
            resolution_summary=raw.get("resolution_summary"),
            resolved_at=now - timedelta(minutes=float(raw.get("minutes_ago", 0)))
            if raw.get("status", "resolved") == "resolved"
            else None,
            metadata=meta,
            created_at=now,
            updated_at=now,
        )
        for raw in pack.get("resolutions", [])
    ]
    return SubjectContent(
        subject_id=pack["subject_id_suggestion"],
        episodes=episodes,
        memories=memories,
        resolutions=resolutions,
    )


@dataclass(frozen=True)
class PackImport:
    pack_id: str
    result: IngestResult
    conflict_strategy: str
    imported_at: datetime


async def import_pack(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider | None,
    pack_id: str,
    *,
    target_subject_id: str | None = None,
    target_tenant_id: str,
    display_name: str | None = None,
    conflict_strategy: ConflictStrategy = "create_copy",
    allow_reserved_target: bool = False,
) -> PackImport:
    """Import a bundled pack into a subject chosen by the conflict strategy."""
    pack = load_pack(pack_id)
    now = datetime.now(UTC)
    extras: dict[str, Any] = {"imported_at": now.isoformat()}
    if display_name:
        extras["display_name"] = display_name
    content, embedded = await embed_missing(pack_content(pack, now, extras), embedder)
    async with db.begin() as session:
        target = await resolve_target(
            session,
            target_tenant_id,
            explicit=target_subject_id,
            suggestion=pack["subject_id_suggestion"],
            strategy=conflict_strategy,
            allow_reserved=allow_reserved_target,
        )
        result = await write_content(
            session,
            content,
            tenant_id=target_tenant_id,
            subject_id=target,
            preserve_ids=True,
            embedded=embedded,
        )
    return PackImport(pack_id, result, conflict_strategy, now)
