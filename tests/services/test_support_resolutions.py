"""Resolution upsert against a real database: one row per session, resolved_at rules."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.db.models import Resolution
from statewave_server.services.support import resolutions as service
from tests.fixtures.factories import database_for


async def test_upsert_overwrites_and_manages_resolved_at(engine: AsyncEngine) -> None:
    db = database_for(engine).primary

    async def upsert(status: str, summary: str | None = None, **metadata: object) -> Resolution:
        return await service.record_resolution(
            db,
            tenant_id="t",
            subject_id="subj",
            session_id="s1",
            status=status,
            summary=summary,
            metadata=metadata,
        )

    created = await upsert("open", k=1)
    assert (created.status, created.resolved_at, created.metadata_) == ("open", None, {"k": 1})
    resolved = await upsert("resolved", "fixed")
    assert resolved.id == created.id and resolved.resolved_at is not None
    assert (resolved.resolution_summary, resolved.metadata_) == ("fixed", {})
    assert resolved.updated_at >= created.updated_at
    again = await upsert("resolved", "fixed for good")
    assert again.resolved_at == resolved.resolved_at
    unresolved = await upsert("unresolved")
    assert (unresolved.resolved_at, unresolved.resolution_summary) == (None, None)
    rows = await service.list_resolutions(
        db, tenant_id="t", subject_id="subj", status=None, limit=10, offset=0
    )
    assert [r.id for r in rows] == [created.id]
    assert (
        await service.list_resolutions(
            db, tenant_id="u", subject_id="subj", status=None, limit=10, offset=0
        )
        == []
    )
