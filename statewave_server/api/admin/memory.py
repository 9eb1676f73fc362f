"""``/admin/memory``: starter packs, subject clone, portable payload export/import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header

from statewave_server.api.deps import DbDep, RuntimeDep
from statewave_server.api.schemas.admin import (
    CloneBody,
    PackImportBody,
    PayloadExportBody,
    PayloadImportBody,
)
from statewave_server.services.admin import clone as clone_service
from statewave_server.services.admin import packs as pack_service
from statewave_server.services.admin.ingest import IngestResult

router = APIRouter(prefix="/admin/memory", tags=["admin"])


@router.get("/starter-packs")
async def list_packs() -> dict[str, list[dict[str, Any]]]:
    return {"packs": pack_service.list_packs()}


@router.post("/starter-packs/import")
async def import_pack(body: PackImportBody, db: DbDep, runtime: RuntimeDep) -> dict[str, Any]:
    """404 unknown pack, 400 bad or reserved target, 409 ``cancel`` on a populated one."""
    done = await pack_service.import_pack(
        db,
        runtime.embedder,
        body.pack_id,
        target_subject_id=body.target_subject_id,
        target_tenant_id=body.target_tenant_id,
        display_name=body.target_display_name,
        conflict_strategy=body.conflict_strategy,
        allow_reserved_target=body.allow_reserved_target,
    )
    return {
        "pack_id": done.pack_id,
        "target_subject_id": done.result.subject_id,
        "target_tenant_id": done.result.tenant_id,
        **_imported([done.result]),
        "conflict_strategy": done.conflict_strategy,
        "imported_at": done.imported_at,
    }


@router.post("/clone")
async def clone(
    body: CloneBody,
    db: DbDep,
    operator: Annotated[str | None, Header(alias="X-Statewave-Operator-Email")] = None,
) -> dict[str, Any]:
    """400 bad ids, 404 empty source, 409 populated explicit target."""
    done = await clone_service.clone_subject(
        db,
        source_subject_id=body.source_subject_id,
        source_tenant_id=body.source_tenant_id,
        target_subject_id=body.target_subject_id,
        target_tenant_id=body.target_tenant_id,
        display_name=body.target_display_name,
        clone_scope=body.clone_scope,
        cloned_by=operator,
    )
    return {
        "status": "cloned",
        "source_subject_id": done.source_subject_id,
        "target_subject_id": done.target_subject_id,
        "target_tenant_id": done.result.tenant_id,
        "target_display_name": body.target_display_name,
        "clone_scope": done.clone_scope,
        "episode_count": done.result.episodes_imported,
        "memory_count": done.result.memories_imported,
        "resolution_count": done.result.resolutions_imported,
        "source_count": 0,
        "cloned_at": done.cloned_at,
    }


@router.post("/export")
async def export_payload(body: PayloadExportBody, db: DbDep) -> dict[str, Any]:
    return await clone_service.export_payload(
        db, body.subject_ids, tenant_id=body.tenant_id, export_scope=body.export_scope
    )


@router.post("/import")
async def import_payload(body: PayloadImportBody, db: DbDep, runtime: RuntimeDep) -> dict[str, Any]:
    done = await clone_service.import_payload(
        db,
        runtime.embedder,
        body.payload,
        target_tenant_id=body.target_tenant_id,
        conflict_strategy=body.conflict_strategy,
    )
    return {
        "imported_at": done.imported_at,
        "export_id": done.export_id,
        "conflict_strategy": body.conflict_strategy,
        "subject_id_map": done.subject_id_map,
        "imported_subjects": len(done.results),
        **_imported(done.results),
    }


def _imported(results: Sequence[IngestResult]) -> dict[str, int]:
    """The ``imported_*`` totals of an import response (sources are not imported)."""
    return {
        "imported_episodes": sum(r.episodes_imported for r in results),
        "imported_memories": sum(r.memories_imported for r in results),
        "imported_resolutions": sum(r.resolutions_imported for r in results),
        "imported_sources": 0,
    }
