"""Which schema a database holds, judged by its tables and columns, not its revision id.

The original Statewave (0.6.1 and earlier) writes revision ids ``0001`` … ``0011`` and
``0012_add_health_cache`` — the last one equal to our head — so the id alone cannot tell
its schema from ours. What tells them apart:

- ours: ``memories.content_tsv`` (present from our first revision on);
- the original: ``memories`` without ``content_tsv``, ``episodes`` without ``occurred_at``,
  and every one of its tables present has only columns the original ever had (its
  ``compile_jobs`` is ours ``compilation_jobs``; our ``compilation_jobs`` never appears).

Anything else that holds a ``memories`` or ``episodes`` table is ``UNKNOWN``. Tables with
names neither schema uses are ignored (another application may share the database).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from statewave_server.db.migration_audit import OUTSIDE_CHAIN_TABLES
from statewave_server.db.models import Base


class SchemaFamily(enum.Enum):
    """What ``detect_schema_family`` found in the current schema."""

    OURS = "ours"
    ORIGINAL_0_6_1 = "original_0_6_1"
    EMPTY = "empty"
    UNKNOWN = "unknown"


# The original's revision ids, base to head (only the head id is also one of ours).
ORIGINAL_REVISIONS = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012_add_health_cache",
)


def _cols(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Every column each of the original's tables had at any of its revisions (0.6.1 = the union).
ORIGINAL_COLUMNS: Mapping[str, frozenset[str]] = {
    "episodes": _cols(
        "id subject_id source type payload metadata provenance created_at last_compiled_at "
        "tenant_id session_id"
    ),
    "memories": _cols(
        "id subject_id kind content summary confidence valid_from valid_to source_episode_ids "
        "metadata status created_at updated_at embedding tenant_id"
    ),
    "webhook_events": _cols(
        "id event payload status attempts max_attempts last_attempt_at next_attempt_at "
        "last_error http_status created_at delivered_at tenant_id"
    ),
    "subject_snapshots": _cols(
        "id name version source_subject_id episode_count memory_count metadata created_at tenant_id"
    ),
    "compile_jobs": _cols(
        "id subject_id tenant_id status memories_created error created_at started_at completed_at"
    ),
    "rate_limit_hits": _cols("key window_start hit_count updated_at"),
    "resolutions": _cols(
        "id subject_id session_id tenant_id status resolution_summary resolved_at metadata_ "
        "created_at updated_at"
    ),
    "subject_health_cache": _cols("subject_id tenant_id last_state last_score updated_at"),
}

# The columns the original's first revision created: an adoptable database has them all.
ORIGINAL_CORE_COLUMNS: Mapping[str, frozenset[str]] = {
    "episodes": ORIGINAL_COLUMNS["episodes"] - {"last_compiled_at", "tenant_id", "session_id"},
    "memories": ORIGINAL_COLUMNS["memories"] - {"tenant_id"},
}

_BOOKKEEPING = frozenset({"alembic_version", *OUTSIDE_CHAIN_TABLES})
_OUR_TABLES = frozenset(Base.metadata.tables)
_KNOWN_TABLES = _OUR_TABLES | frozenset(ORIGINAL_COLUMNS)

_COLUMNS_SQL = text(
    """
    SELECT c.relname, a.attname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p')
    """
)


def classify(columns: Mapping[str, frozenset[str]]) -> SchemaFamily:
    """The family of a schema given each table's column names (pure: no database)."""
    tables = {name: cols for name, cols in columns.items() if name in _KNOWN_TABLES}
    if not tables:
        return SchemaFamily.EMPTY
    memories = tables.get("memories")
    if memories is not None and "content_tsv" in memories:
        return SchemaFamily.OURS if "compile_jobs" not in tables else SchemaFamily.UNKNOWN
    if _is_original(tables):
        return SchemaFamily.ORIGINAL_0_6_1
    return SchemaFamily.UNKNOWN


def _is_original(tables: Mapping[str, frozenset[str]]) -> bool:
    if not set(tables) <= set(ORIGINAL_COLUMNS):
        return False  # e.g. our compilation_jobs next to the original's tables
    if any(
        not core <= tables.get(name, frozenset()) for name, core in ORIGINAL_CORE_COLUMNS.items()
    ):
        return False
    return all(cols <= ORIGINAL_COLUMNS[name] for name, cols in tables.items())


def _group(rows: list[tuple[str, str]]) -> dict[str, frozenset[str]]:
    grouped: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in _BOOKKEEPING:
            grouped.setdefault(table, set()).add(column)
    return {table: frozenset(cols) for table, cols in grouped.items()}


async def read_columns(conn: AsyncConnection) -> dict[str, frozenset[str]]:
    """Each table of the current schema and its column names."""
    result = await conn.execute(_COLUMNS_SQL)
    return _group([(str(t), str(c)) for t, c in result.all()])


def read_columns_sync(conn: Connection) -> dict[str, frozenset[str]]:
    """``read_columns`` for a synchronous connection (Alembic's ``env.py``)."""
    return _group([(str(t), str(c)) for t, c in conn.execute(_COLUMNS_SQL).all()])


async def detect_schema_family(conn: AsyncConnection) -> SchemaFamily:
    """Classify the database behind ``conn`` (read-only; one catalog query)."""
    return classify(await read_columns(conn))


def detect_schema_family_sync(conn: Connection) -> SchemaFamily:
    """``detect_schema_family`` for a synchronous connection."""
    return classify(read_columns_sync(conn))
