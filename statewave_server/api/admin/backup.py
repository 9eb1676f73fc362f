"""``/admin/export`` and ``/admin/import``: lossless, checksum-verified subject backups."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from statewave_server.api.deps import DbDep, RuntimeDep
from statewave_server.api.schemas.admin import ImportBody, ImportResponse
from statewave_server.api.schemas.common import NO_NUL
from statewave_server.services.admin import backup as service

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/export/{subject_id:path}")
async def export_subject(
    subject_id: Annotated[str, Path(min_length=1, max_length=256, pattern=NO_NUL)],
    db: DbDep,
    tenant_id: Annotated[str, Query(max_length=256, pattern=NO_NUL)] = "",
    format_version: Literal["2.0", "1.0"] = "2.0",
) -> dict[str, Any]:
    """The subject's export document (404 when it has no episodes and no memories);
    ``format_version=1.0`` writes the original Statewave's format, which it can import."""
    return await service.export_subject(
        db, tenant_id=tenant_id, subject_id=subject_id, format_version=format_version
    )


@router.post("/import", response_model=ImportResponse)
async def import_subject(body: ImportBody, db: DbDep, runtime: RuntimeDep) -> ImportResponse:
    """Restore an export document; 400 on a bad format or checksum, 409 when preserved
    ids belong to another subject. Re-importing the same document adds nothing."""
    result = await service.import_document(
        db,
        runtime.embedder,
        body.document,
        target_subject_id=body.target_subject_id,
        target_tenant_id=body.target_tenant_id,
        preserve_ids=body.preserve_ids,
    )
    return ImportResponse.model_validate(result)
