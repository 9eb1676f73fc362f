"""Backup and restore of one subject (``GET /admin/export``, ``POST /admin/import``, CLI).

Export is lossless: episodes with sessions, event times and idempotency keys; memories
with embeddings and ``embedding_model``; resolutions; the health cache. Import verifies
the checksum, preserves ids (idempotent re-import) or remaps them, and embeds memories
that arrive without a vector.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db.admin_queries import subject_rows as rows_repo
from statewave_server.errors import BadRequest, NotFound
from statewave_server.services.admin.backup_format import (
    LEGACY_VERSION,
    SubjectContent,
    content_of,
    from_document,
    to_document,
    to_legacy_document,
)
from statewave_server.services.admin.ingest import IngestResult, embed_missing, write_content
from statewave_server.services.embeddings import EmbeddingProvider


async def read_content(session: AsyncSession, *, tenant_id: str, subject_id: str) -> SubjectContent:
    """Everything stored about the subject (empty lists when it has nothing)."""
    rows = await rows_repo.read_subject(session, tenant_id=tenant_id, subject_id=subject_id)
    return content_of(subject_id=subject_id, tenant_id=tenant_id, rows=rows)


async def load_subject(
    db: async_sessionmaker[AsyncSession], *, tenant_id: str, subject_id: str
) -> SubjectContent:
    """The subject's content, or :class:`NotFound` when it has no episodes and no memories."""
    async with db() as session:
        content = await read_content(session, tenant_id=tenant_id, subject_id=subject_id)
    if not content.episodes and not content.memories:
        raise NotFound(f"Subject '{subject_id}' not found", code="subject_not_found")
    return content


async def export_subject(
    db: async_sessionmaker[AsyncSession],
    *,
    tenant_id: str,
    subject_id: str,
    format_version: str = "2.0",
) -> dict[str, Any]:
    """The checksummed export document of one (tenant, subject); ``format_version`` 1.0
    is the original Statewave's format (for a move back to it)."""
    content = await load_subject(db, tenant_id=tenant_id, subject_id=subject_id)
    return to_legacy_document(content) if format_version == LEGACY_VERSION else to_document(content)


async def import_content(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider | None,
    content: SubjectContent,
    *,
    target_subject_id: str | None = None,
    target_tenant_id: str | None = None,
    preserve_ids: bool = True,
) -> IngestResult:
    """Write ``content`` (embedding what lacks a vector first) in one transaction."""
    subject_id = target_subject_id or content.subject_id
    tenant_id = content.tenant_id if target_tenant_id is None else target_tenant_id
    if len(subject_id) > 256 or len(tenant_id) > 256:
        raise BadRequest("Subject and tenant ids are at most 256 characters")
    content, embedded = await embed_missing(content, embedder)
    async with db.begin() as session:
        return await write_content(
            session,
            content,
            tenant_id=tenant_id,
            subject_id=subject_id,
            preserve_ids=preserve_ids,
            embedded=embedded,
        )


async def import_document(
    db: async_sessionmaker[AsyncSession],
    embedder: EmbeddingProvider | None,
    document: Any,
    *,
    target_subject_id: str | None = None,
    target_tenant_id: str | None = None,
    preserve_ids: bool = True,
) -> IngestResult:
    """Verify and restore an export document (see :func:`import_content`)."""
    return await import_content(
        db,
        embedder,
        from_document(document),
        target_subject_id=target_subject_id,
        target_tenant_id=target_tenant_id,
        preserve_ids=preserve_ids,
    )
