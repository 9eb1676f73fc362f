"""``/admin/snapshots`` (404 unless ``STATEWAVE_ENABLE_SNAPSHOTS``) and ``/admin/cleanup``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from statewave_server.api.deps import DbDep, EventsDep, SettingsDep
from statewave_server.api.schemas.admin import (
    CreateSnapshotBody,
    RestoreBody,
    RestoreByNameBody,
    SnapshotItem,
)
from statewave_server.api.schemas.common import NO_NUL
from statewave_server.services.admin import deletion
from statewave_server.services.admin import snapshots as service

router = APIRouter(prefix="/admin", tags=["admin"])
Tenant = Annotated[str, Query(max_length=256, pattern=NO_NUL)]


def _enabled(settings: SettingsDep) -> None:
    service.require_enabled(settings.enable_snapshots)


@router.get("/snapshots")
async def list_snapshots(
    db: DbDep, settings: SettingsDep, tenant_id: Tenant = ""
) -> dict[str, list[SnapshotItem]]:
    _enabled(settings)
    rows = await service.list_snapshots(db, tenant_id)
    return {"snapshots": [SnapshotItem.model_validate(r) for r in rows]}


@router.post("/snapshots")
async def create_snapshot(
    body: CreateSnapshotBody, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """``created`` with the copy's counts, or ``exists`` when (name, version) is taken."""
    _enabled(settings)
    made = await service.create_snapshot(
        db,
        body.tenant_id,
        name=body.name,
        source_subject_id=body.source_subject_id,
        version=body.version,
        metadata=body.metadata,
    )
    if made.snapshot is None:
        return {"status": "exists", "name": made.name, "version": made.version}
    return {
        "status": "created",
        "id": made.snapshot.id,
        "name": made.name,
        "version": made.version,
        "episode_count": made.snapshot.episode_count,
        "memory_count": made.snapshot.memory_count,
    }


@router.post("/snapshots/restore-by-name")
async def restore_by_name(
    body: RestoreByNameBody, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    _enabled(settings)
    done = await service.restore_snapshot(
        db, body.tenant_id, body.target_subject_id, name=body.name, version=body.version
    )
    return done.__dict__


@router.post("/snapshots/{snapshot_id}/restore")
async def restore(
    snapshot_id: uuid.UUID, body: RestoreBody, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    _enabled(settings)
    done = await service.restore_snapshot(
        db, body.tenant_id, body.target_subject_id, snapshot_id=snapshot_id
    )
    return done.__dict__


@router.delete("/snapshots/{snapshot_id}")
async def delete_snapshot(
    snapshot_id: uuid.UUID, db: DbDep, settings: SettingsDep, tenant_id: Tenant = ""
) -> dict[str, Any]:
    _enabled(settings)
    await service.delete_snapshot(db, tenant_id, snapshot_id)
    return {"deleted": True, "id": snapshot_id}


@router.post("/cleanup")
async def cleanup(
    db: DbDep,
    events: EventsDep,
    settings: SettingsDep,
    prefix: Annotated[str, Query(min_length=1, max_length=256, pattern=NO_NUL)] = "live_",
    max_age_hours: Annotated[float, Query(ge=0, le=876_000, allow_inf_nan=False)] = 24,
    tenant_id: Annotated[str | None, Query(max_length=256, pattern=NO_NUL)] = None,
) -> dict[str, int]:
    """Delete ephemeral subjects with ``prefix`` idle for ``max_age_hours`` (on request
    only; part of the snapshot feature, so 404 unless it is enabled)."""
    _enabled(settings)
    n = await deletion.cleanup_inactive(
        db,
        events,
        prefix=prefix,
        scope_prefix=settings.cleanup_subject_prefix,
        max_age_hours=max_age_hours,
        tenant_id=tenant_id,
    )
    return {"subjects_cleaned": n}
