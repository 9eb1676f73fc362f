"""Rows of ``subject_snapshots`` (always within one tenant)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.models import SubjectSnapshot
from statewave_server.db.rows import NewSnapshotRow, attribute_values


async def list_snapshots(session: AsyncSession, tenant_id: str) -> list[SubjectSnapshot]:
    statement = (
        select(SubjectSnapshot)
        .where(SubjectSnapshot.tenant_id == tenant_id)
        .order_by(SubjectSnapshot.name, SubjectSnapshot.version)
    )
    return list(await session.scalars(statement))


async def get_snapshot(
    session: AsyncSession, tenant_id: str, snapshot_id: uuid.UUID
) -> SubjectSnapshot | None:
    statement = select(SubjectSnapshot).where(
        SubjectSnapshot.tenant_id == tenant_id, SubjectSnapshot.id == snapshot_id
    )
    return await session.scalar(statement)


async def find_snapshot(
    session: AsyncSession, tenant_id: str, name: str, version: int | None
) -> SubjectSnapshot | None:
    """The snapshot ``name`` at ``version``, or its latest version when None."""
    statement = select(SubjectSnapshot).where(
        SubjectSnapshot.tenant_id == tenant_id, SubjectSnapshot.name == name
    )
    if version is not None:
        statement = statement.where(SubjectSnapshot.version == version)
    statement = statement.order_by(SubjectSnapshot.version.desc()).limit(1)
    return await session.scalar(statement)


async def insert_snapshot(session: AsyncSession, row: NewSnapshotRow) -> SubjectSnapshot | None:
    """Insert the snapshot row; None when (tenant, name, version) already exists."""
    statement = (
        pg_insert(SubjectSnapshot)
        .values(**attribute_values(row))
        .on_conflict_do_nothing(constraint="uq_snapshots_tenant_name_version")
        .returning(SubjectSnapshot)
    )
    return await session.scalar(statement)


async def delete_snapshot_row(session: AsyncSession, tenant_id: str, snapshot_id: uuid.UUID) -> int:
    result = await session.execute(
        delete(SubjectSnapshot).where(
            SubjectSnapshot.tenant_id == tenant_id, SubjectSnapshot.id == snapshot_id
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
