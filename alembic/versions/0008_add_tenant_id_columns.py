"""Add ``tenant_id`` everywhere and make tenant-leading keys and indexes.

Adds ``tenant_id varchar(256) NOT NULL DEFAULT ''`` (``''`` = default tenant) to
``episodes``, ``memories``, ``webhook_events``, ``subject_snapshots`` and
``compilation_jobs``. Re-keys ``episodes`` and ``memories`` to primary keys
``(tenant_id, subject_id, id)`` (shardable by tenant and subject) with a plain ``ix_*_id``
index for lookups by id; tenant-leading indexes replace the subject-only ones; snapshot names
become unique per tenant. Existing rows land in the default tenant; older code that writes
no tenant keeps working through the column default.

Downgrade loses data: ``tenant_id`` is dropped, and where two tenants share a key that must
be unique again (an id, or a snapshot ``(name, version)``) only the row of the
lexicographically first tenant (the default tenant ``''`` first) is kept.

Revision ID: 0008_add_tenant_id_columns
Revises: 0007_add_compilation_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from schema_helpers import tenant_id

from alembic import op

revision = "0008_add_tenant_id_columns"
down_revision = "0007_add_compilation_jobs"
branch_labels = None
depends_on = None

additive = True
downgrade_loses_data = True

TABLES = ("episodes", "memories", "webhook_events", "subject_snapshots", "compilation_jobs")
REKEYED = ("episodes", "memories")
UNCOMPILED = sa.text("last_compiled_at IS NULL")

# (table, subject-only index and columns before, tenant-leading index and columns after)
INDEX_SWAPS = (
    (
        "episodes",
        ("ix_episodes_subject_created", ["subject_id", "created_at"]),
        ("ix_episodes_tenant_subject_created", ["tenant_id", "subject_id", "created_at"]),
    ),
    (
        "memories",
        ("ix_memories_subject_kind", ["subject_id", "kind"]),
        ("ix_memories_tenant_subject_kind", ["tenant_id", "subject_id", "kind"]),
    ),
    (
        "compilation_jobs",
        ("ix_compilation_jobs_subject", ["subject_id"]),
        ("ix_compilation_jobs_tenant_subject", ["tenant_id", "subject_id"]),
    ),
)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, tenant_id())
    for table in REKEYED:
        _set_primary_key(table, ["tenant_id", "subject_id", "id"])
        op.create_index(f"ix_{table}_id", table, ["id"])
    for table, (old, _), (new, new_columns) in INDEX_SWAPS:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, new_columns)
    _recreate_uncompiled_index(["tenant_id", "subject_id"])
    op.create_index("ix_webhook_events_tenant", "webhook_events", ["tenant_id", "created_at"])
    op.drop_constraint("uq_snapshots_name_version", "subject_snapshots", type_="unique")
    op.create_unique_constraint(
        "uq_snapshots_tenant_name_version", "subject_snapshots", ["tenant_id", "name", "version"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_snapshots_tenant_name_version", "subject_snapshots", type_="unique")
    _keep_first_tenant("subject_snapshots", ["name", "version"])
    op.create_unique_constraint(
        "uq_snapshots_name_version", "subject_snapshots", ["name", "version"]
    )
    op.drop_index("ix_webhook_events_tenant", table_name="webhook_events")
    _recreate_uncompiled_index(["subject_id"])
    for table, (old, old_columns), (new, _) in INDEX_SWAPS:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, old_columns)
    for table in REKEYED:
        op.drop_index(f"ix_{table}_id", table_name=table)
        _keep_first_tenant(table, ["id"])
        _set_primary_key(table, ["id"])
    for table in TABLES:
        op.drop_column(table, "tenant_id")


def _set_primary_key(table: str, columns: list[str]) -> None:
    op.drop_constraint(f"{table}_pkey", table, type_="primary")
    op.create_primary_key(f"{table}_pkey", table, columns)


def _recreate_uncompiled_index(columns: list[str]) -> None:
    op.drop_index("ix_episodes_uncompiled", table_name="episodes")
    op.create_index("ix_episodes_uncompiled", "episodes", columns, postgresql_where=UNCOMPILED)


def _keep_first_tenant(table: str, key: list[str]) -> None:
    """Delete rows whose ``key`` is also used by a lexicographically smaller tenant."""
    same_key = " AND ".join(f"later.{column} = first.{column}" for column in key)
    op.execute(
        f"DELETE FROM {table} AS later USING {table} AS first "
        f"WHERE {same_key} AND later.tenant_id > first.tenant_id"
    )
