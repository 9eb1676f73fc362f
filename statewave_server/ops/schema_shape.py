"""What kind of schema a database holds, judged from its tables and columns, not its revision id.

The original Statewave 0.6.1 writes the same head id (``0012_add_health_cache``) as we do
but a different schema, so a matching revision proves nothing: preflight, the startup guard,
``/ops/migrations`` and ``/readyz`` all ask this module before calling a database "up to date".
Works on a sync connection (Alembic's, or ``await conn.run_sync(detect_schema_family)``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from statewave_server.db.migration_audit import AUDIT_TABLE
from statewave_server.db.models import Base
from statewave_server.ops.matrix import load_chain


class SchemaFamily(enum.Enum):
    OURS = "ours"
    ORIGINAL_0_6_1 = "original_0_6_1"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SchemaShape:
    """The family and, unless it is ours or empty, what gave it away (for messages)."""

    family: SchemaFamily
    revision: str | None
    evidence: list[str] = field(default_factory=list)


# The original's revision ids below its head (its head id is the same as ours).
ORIGINAL_REVISIONS = frozenset(f"{n:04d}" for n in range(1, 12))
_NOT_APP_TABLES = frozenset({"alembic_version", AUDIT_TABLE})
# Compiled SQLAlchemy type (lengths stripped) → PostgreSQL ``pg_type.typname``.
_TYPNAMES = {
    "VARCHAR": "varchar",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "UUID[]": "_uuid",
}
_COLUMNS_SQL = text(
    "SELECT c.relname, a.attname, t.typname FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
    "AND a.attnum > 0 AND NOT a.attisdropped"
)

Columns = dict[str, dict[str, str]]


def _typname(type_: TypeEngine[object]) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = re.sub(r"\(.*?\)", "", type_.compile(dialect=dialect)).strip()
    return _TYPNAMES.get(compiled, compiled.lower())


@lru_cache(maxsize=1)
def expected_columns() -> Columns:
    """Our head schema (the models) as table → column → typname."""
    return {
        table.name: {column.name: _typname(column.type) for column in table.columns}
        for table in Base.metadata.tables.values()
    }


def read_columns(conn: Connection) -> Columns:
    found: Columns = {}
    for table, column, typname in conn.execute(_COLUMNS_SQL):
        found.setdefault(table, {})[column] = typname
    return found


def _read_revision(conn: Connection, columns: Columns) -> str | None:
    if "alembic_version" not in columns:
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version LIMIT 1")).scalar()
    return None if value is None else str(value)


def original_markers(columns: Columns, revision: str | None) -> list[str]:
    """Traits only the original Statewave's schema has."""
    markers = []
    if revision in ORIGINAL_REVISIONS:
        markers.append(f"revision id '{revision}' is the original's")
    if "compile_jobs" in columns and "compilation_jobs" not in columns:
        markers.append("table compile_jobs (ours: compilation_jobs)")
    if "metadata_" in columns.get("resolutions", {}):
        markers.append("column resolutions.metadata_")
    if columns.get("memories", {}).get("embedding") == "text":
        markers.append("memories.embedding stored as text")
    return markers


def differences(columns: Columns) -> list[str]:
    """How the database differs from our head schema (extra tables and columns are fine)."""
    found = []
    for table, wanted in expected_columns().items():
        have = columns.get(table)
        if have is None:
            found.append(f"missing table {table}")
            continue
        for column, typname in wanted.items():
            if column not in have:
                found.append(f"missing column {table}.{column}")
            elif have[column] != typname:
                found.append(f"{table}.{column} is {have[column]}, expected {typname}")
    return found


def inspect_shape(conn: Connection, *, head: str) -> SchemaShape:
    """Classify the database. At ``head`` (or a revision we do not know) the shape must be
    ours column by column; below it the revision says which older shape to expect."""
    columns = read_columns(conn)
    revision = _read_revision(conn, columns)
    if not set(columns) - _NOT_APP_TABLES:
        family = SchemaFamily.EMPTY if revision is None else SchemaFamily.UNKNOWN
        evidence = [] if revision is None else [f"revision '{revision}' but no tables"]
        return SchemaShape(family, revision, evidence)
    markers = original_markers(columns, revision)
    if markers:
        return SchemaShape(SchemaFamily.ORIGINAL_0_6_1, revision, markers)
    if revision is None:
        tables = sorted(set(columns) - _NOT_APP_TABLES)
        return SchemaShape(
            SchemaFamily.UNKNOWN, None, [f"tables {', '.join(tables[:5])} without alembic_version"]
        )
    if revision == head or revision not in load_chain().ids:
        problems = differences(columns)
        if problems:
            return SchemaShape(SchemaFamily.UNKNOWN, revision, problems)
    return SchemaShape(SchemaFamily.OURS, revision)


def detect_schema_family(conn: Connection) -> SchemaFamily:
    """The family of the schema behind ``conn`` (judged against this code's head)."""
    return inspect_shape(conn, head=load_chain().heads[0]).family


def describe(shape: SchemaShape) -> str | None:
    """The operator's message for a foreign schema; None for ours or an empty database."""
    evidence = "; ".join(shape.evidence[:4]) + ("; …" if len(shape.evidence) > 4 else "")
    if shape.family is SchemaFamily.ORIGINAL_0_6_1:
        return (
            f"original Statewave 0.6.1 schema ({evidence}): run `alembic upgrade head` to "
            "adopt it (take a backup first: `statewave backup`)"
        )
    if shape.family is SchemaFamily.UNKNOWN:
        return (
            f"unknown schema ({evidence}): refusing to use it; point STATEWAVE_DATABASE_URL "
            "at a Statewave database or an empty one"
        )
    return None
