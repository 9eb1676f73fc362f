"""Cloning a subject, and the portable memory payload (export and import of subjects
between deployments). Both keep sessions and resolutions; ids are always fresh."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.errors import BadRequest, NotFound, PayloadTooLarge
from statewave_server.services.admin.backup import read_content
from statewave_server.services.admin.backup_format import SubjectContent
from statewave_server.services.admin.ingest import IngestResult, embed_missing, write_content
from statewave_server.services.admin.targets import (
    ConflictStrategy,
    check_subject_id,
    resolve_target,
)
from statewave_server.services.embeddings import EmbeddingProvider

PAYLOAD_FORMAT = "statewave-memory-payload"
MAX_SUBJECTS = 100
MAX_PAYLOAD_BYTES = 50 * 1024 * 1024
SCOPES = {
    "episodes": (True, False),
    "memories": (False, True),
    "episodes_and_memories": (True, True),
    "episodes_memories_sources": (True, True),
    "full": (True, True),
}


def _scoped(content: SubjectContent, scope: str, extras: dict[str, Any]) -> SubjectContent:
    keep_episodes, keep_memories = SCOPES[scope]
    episodes = [
        e.model_copy(
            update={
                "metadata": {**e.metadata, **extras, "original_episode_id": str(e.id)},
                "provenance": {**e.provenance, **extras, "original_episode_id": str(e.id)},
            }
        )
        for e in (content.episodes if keep_episodes else [])
    ]
    memories = [
        m.model_copy(update={"metadata": {**m.metadata, **extras, "original_memory_id": str(m.id)}})
        for m in (content.memories if keep_memories else [])
    ]
    return content.model_copy(update={"episodes": episodes, "memories": memories, "health": None})


@dataclass(frozen=True)
class Cloned:
    source_subject_id: str
    target_subject_id: str
    clone_scope: str
    result: IngestResult
    cloned_at: datetime


async def clone_subject(
    db: async_sessionmaker[AsyncSession],
    *,
    source_subject_id: str,
    source_tenant_id: str,
    target_subject_id: str | None = None,
    target_tenant_id: str | None = None,
    display_name: str | None = None,
    clone_scope: str = "episodes_memories_sources",
    cloned_by: str | None = None,
) -> Cloned:
    """Copy a subject into an empty target (explicit populated target → 409)."""
    tenant = source_tenant_id if target_tenant_id is None else target_tenant_id
    now = datetime.now(UTC)
    extras: dict[str, Any] = {"cloned_from_subject_id": source_subject_id}
    extras["cloned_at"] = now.isoformat()
    if cloned_by:
        extras["cloned_by"] = cloned_by
    if display_name:
        extras["display_name"] = display_name
    async with db.begin() as session:
        content = await read_content(
            session, tenant_id=source_tenant_id, subject_id=source_subject_id
        )
        if not content.episodes and not content.memories:
            raise NotFound(f"Subject '{source_subject_id}' not found", code="subject_not_found")
        target = await resolve_target(
            session,
            tenant,
            explicit=target_subject_id,
            suggestion=f"{source_subject_id}-clone",
            strategy="cancel" if target_subject_id else "create_copy",
        )
        result = await write_content(
            session,
            _scoped(content, clone_scope, extras),
            tenant_id=tenant,
            subject_id=target,
            preserve_ids=False,
        )
    return Cloned(source_subject_id, target, clone_scope, result, now)


async def export_payload(
    db: async_sessionmaker[AsyncSession],
    subject_ids: list[str],
    *,
    tenant_id: str,
    export_scope: str = "full",
) -> dict[str, Any]:
    """A portable payload of several subjects (no embeddings: the importer re-embeds)."""
    if not subject_ids:
        raise BadRequest("subject_ids must not be empty")
    if len(subject_ids) > MAX_SUBJECTS:
        raise PayloadTooLarge(f"At most {MAX_SUBJECTS} subjects per payload")
    now = datetime.now(UTC).isoformat()
    subjects = []
    async with db() as session:
        for subject_id in dict.fromkeys(subject_ids):
            content = _scoped(
                await read_content(session, tenant_id=tenant_id, subject_id=subject_id),
                export_scope,
                {},
            )
            for memory in content.memories:
                memory.embedding = memory.embedding_model = None
            subjects.append(content.model_dump(mode="json", exclude={"tenant_id", "health"}))
    return {
        "format": PAYLOAD_FORMAT,
        "format_version": 2,
        "export_id": secrets.token_hex(16),
        "exported_at": now,
        "export_scope": export_scope,
        "tenant_id": tenant_id,
        "subjects": subjects,
    }


@dataclass(frozen=True)
class PayloadImport:
    export_id: str
    subject_id_map: dict[str, str]
    results: list[IngestResult]
    imported_at: datetime


async def import_payload(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider | None,
    payload: dict[str, Any],
    *,
    target_tenant_id: str,
    conflict_strategy: ConflictStrategy = "create_copy",
) -> PayloadImport:
    """Import every subject of a payload (fresh ids, re-embedded) in one transaction."""
    contents, export_id = _parse_payload(payload)
    now = datetime.now(UTC)
    extras = {"imported_from_export_id": export_id, "imported_at": now.isoformat()}
    prepared = []
    for content in contents:
        check_subject_id(content.subject_id, allow_reserved=True)
        marked = _scoped(content, "full", {**extras, "original_subject_id": content.subject_id})
        prepared.append(await embed_missing(marked, embedder))
    mapping: dict[str, str] = {}
    results = []
    async with db.begin() as session:
        for content, embedded in prepared:
            target = await resolve_target(
                session,
                target_tenant_id,
                explicit=content.subject_id,
                suggestion=content.subject_id,
                strategy=conflict_strategy,
                allow_reserved=conflict_strategy == "merge",
            )
            mapping[content.subject_id] = target
            results.append(
                await write_content(
                    session,
                    content,
                    tenant_id=target_tenant_id,
                    subject_id=target,
                    preserve_ids=False,
                    embedded=embedded,
                )
            )
    return PayloadImport(export_id, mapping, results, now)


def _parse_payload(payload: Any) -> tuple[list[SubjectContent], str]:
    known = {"format", "format_version", "export_id", "exported_at", "export_scope", "tenant_id"}
    if not isinstance(payload, dict) or payload.get("format") != PAYLOAD_FORMAT:
        raise BadRequest(f"The payload must be a {PAYLOAD_FORMAT!r} object")
    if payload.get("format_version") != 2:
        raise BadRequest("Unsupported payload format_version; expected 2")
    unknown = set(payload) - known - {"subjects"}
    if unknown:
        raise BadRequest(f"Unknown payload fields: {sorted(unknown)}")
    if len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge("The payload exceeds 50 MiB")
    subjects = payload.get("subjects")
    if not isinstance(subjects, list) or not subjects:
        raise BadRequest("The payload has no subjects")
    if len(subjects) > MAX_SUBJECTS:
        raise PayloadTooLarge(f"At most {MAX_SUBJECTS} subjects per payload")
    try:
        contents = [SubjectContent.model_validate(s) for s in subjects]
    except ValidationError as exc:
        raise BadRequest("Invalid payload", details=str(exc)[:2000]) from None
    return contents, str(payload.get("export_id") or uuid.uuid4().hex)
