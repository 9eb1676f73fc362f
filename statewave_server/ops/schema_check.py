"""Is the schema behind a revision id the one the id names? (issue 14.2)

``schema_shape`` tells the families apart by table and column names; this adds what the
guard, preflight, ``/ops/migrations`` and ``/readyz`` need on top: at our head id (or an id
this version does not know) every table and column of our models must be there with its
type, and a foreign schema gets a message saying what it is and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from statewave_server.db.migration_audit import OUTSIDE_CHAIN_TABLES
from statewave_server.db.models import Base
from statewave_server.ops.schema_shape import ORIGINAL_REVISIONS, SchemaFamily, classify

Columns = dict[str, dict[str, str]]


@dataclass(frozen=True)
class SchemaShape:
    """The family and, unless it is ours or empty, what gave it away (for messages)."""

    family: SchemaFamily
    revision: str | None
    evidence: list[str] = field(default_factory=list)


_BOOKKEEPING = frozenset({"alembic_version", *OUTSIDE_CHAIN_TABLES})
# Compiled SQLAlchemy type (lengths stripped) → PostgreSQL ``pg_type.typname``.
_TYPNAMES = {
    "VARCHAR": "varchar",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "UUID[]": "_uuid",
}
_TYPED_COLUMNS_SQL = text(
    "SELECT c.relname, a.attname, t.typname FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
    "AND a.attnum > 0 AND NOT a.attisdropped"
)


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


def read_typed_columns(conn: Connection) -> Columns:
    found: Columns = {}
    for table, column, typname in conn.execute(_TYPED_COLUMNS_SQL):
        found.setdefault(table, {})[column] = typname
    return found


def original_markers(columns: Columns, revision: str | None) -> list[str]:
    """Traits of the original Statewave's schema, named for the operator."""
    markers = []
    if revision in ORIGINAL_REVISIONS[:-1]:  # its head id is ours too
        markers.append(f"revision id '{revision}' is the original's")
    if "compile_jobs" in columns and "compilation_jobs" not in columns:
        markers.append("table compile_jobs (ours: compilation_jobs)")
    if "metadata_" in columns.get("resolutions", {}):
        markers.append("column resolutions.metadata_")
    if columns.get("memories", {}).get("embedding") == "text":
        markers.append("memories.embedding stored as text")
    if "memories" in columns and "content_tsv" not in columns["memories"]:
        markers.append("no memories.content_tsv")
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


def inspect_shape(conn: Connection, *, head: str, known: frozenset[str]) -> SchemaShape:
    """Classify the database. At ``head``, or at a revision not in ``known`` (a newer
    release), the shape must be ours column by column and type by type; below head the
    revision says which older shape of ours to expect."""
    columns = read_typed_columns(conn)
    revision = None
    if "alembic_version" in columns:
        value = conn.execute(text("SELECT version_num FROM alembic_version LIMIT 1")).scalar()
        revision = None if value is None else str(value)
    names = {t: frozenset(c) for t, c in columns.items() if t not in _BOOKKEEPING}
    family = classify(names)
    if family is SchemaFamily.ORIGINAL_0_6_1:
        return SchemaShape(family, revision, original_markers(columns, revision))
    if family is SchemaFamily.EMPTY:
        if revision is None:
            return SchemaShape(family, None)
        return SchemaShape(SchemaFamily.UNKNOWN, revision, [f"revision '{revision}' but no tables"])
    if family is SchemaFamily.UNKNOWN:
        evidence = original_markers(columns, revision) + differences(columns)
        return SchemaShape(family, revision, evidence or ["tables of neither schema"])
    if revision is None:
        return SchemaShape(SchemaFamily.UNKNOWN, None, ["our tables without alembic_version"])
    if revision == head or revision not in known:
        problems = differences(columns)
        if problems:
            return SchemaShape(SchemaFamily.UNKNOWN, revision, problems)
    return SchemaShape(SchemaFamily.OURS, revision)


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
