"""Adopt a database written by the original Statewave (any of its revisions 0001 … 0012).

Run by ``alembic upgrade head`` (``ops/migration_env.py``) when :mod:`schema_shape` finds the
original's schema. Everything happens in ONE transaction, so an interrupted adoption
(killed process, failed statement, lost connection) leaves the original database exactly
as it was and a rerun starts over:

1. the original's tables (and its ``alembic_version``, whose ids ``0001`` … are not in our
   chain) move into the side schema :data:`SIDE_SCHEMA`;
2. our revision chain runs from base to head in the now-empty schema (the caller passes it
   as ``build_schema``), which also stamps our head revision;
3. every row is copied into our tables (NULL tenant → the default tenant ``''``, episode
   ``created_at`` → ``occurred_at``, ``compile_jobs`` → ``compilation_jobs``, ``metadata_``
   → ``metadata``, TEXT embeddings → vectors tagged :data:`ORIGINAL_EMBEDDING_MODEL`);
4. the copied row counts are checked against the originals, then the side schema is dropped.

The original's vectors came from its own model, so they never compare with ours: they are
kept (an export in the original's format gives them back) and ``statewave embeddings
backfill`` replaces them with the configured model's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from statewave_server.db.models import ORIGINAL_EMBEDDING_MODEL
from statewave_server.ops.schema_shape import (
    ORIGINAL_COLUMNS,
    SchemaFamily,
    classify,
    read_columns,
    read_columns_sync,
)

SIDE_SCHEMA = "statewave_original_adoption"

log = logging.getLogger("statewave.adoption")

Columns = Mapping[str, frozenset[str]]

# A TEXT embedding that is not a valid vector becomes NULL instead of failing the adoption.
_TRY_VECTOR = """
CREATE FUNCTION pg_temp.statewave_try_vector(value text) RETURNS vector
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN value::vector;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$
"""


@dataclass
class AdoptionReport:
    """What was copied, per target table, and how many memories await our embeddings."""

    copied: dict[str, int] = field(default_factory=dict)
    merged_resolutions: int = 0
    memories_awaiting_embedding: int = 0


def _tenant(cols: frozenset[str]) -> str:
    return "COALESCE(s.tenant_id, '')" if "tenant_id" in cols else "''"


def _or(cols: frozenset[str], column: str, fallback: str) -> str:
    return f"s.{column}" if column in cols else fallback


def _episodes(cols: frozenset[str]) -> str:
    return f"""
    INSERT INTO episodes (id, tenant_id, subject_id, source, type, payload, metadata, provenance,
                          created_at, last_compiled_at, session_id, occurred_at)
    SELECT s.id, {_tenant(cols)}, s.subject_id, s.source, s.type, s.payload, s.metadata,
           s.provenance, s.created_at, {_or(cols, "last_compiled_at", "NULL")},
           NULLIF({_or(cols, "session_id", "NULL")}, ''), s.created_at
    FROM {SIDE_SCHEMA}.episodes s
    """


def _memories(cols: frozenset[str], embedding_is_text: bool) -> str:
    vector = "pg_temp.statewave_try_vector(s.embedding)" if embedding_is_text else "s.embedding"
    return f"""
    INSERT INTO memories (id, tenant_id, subject_id, kind, content, summary, confidence,
                          valid_from, valid_to, source_episode_ids, metadata, status,
                          created_at, updated_at, embedding, embedding_model)
    SELECT s.id, {_tenant(cols)}, s.subject_id, s.kind, s.content, s.summary, s.confidence,
           s.valid_from, s.valid_to, s.source_episode_ids, s.metadata, s.status,
           s.created_at, s.updated_at, v.vector,
           CASE WHEN v.vector IS NOT NULL THEN '{ORIGINAL_EMBEDDING_MODEL}' END
    FROM {SIDE_SCHEMA}.memories s CROSS JOIN LATERAL (SELECT {vector} AS vector) v
    """


def _webhook_events(cols: frozenset[str]) -> str:
    return f"""
    INSERT INTO webhook_events (id, tenant_id, event, payload, status, attempts, max_attempts,
                                next_attempt_at, last_attempt_at, last_error, http_status,
                                created_at, delivered_at)
    SELECT s.id, {_tenant(cols)}, s.event, s.payload,
           CASE WHEN s.status IN ('pending', 'delivered', 'dead_letter') THEN s.status
                ELSE 'dead_letter' END,
           s.attempts, s.max_attempts, COALESCE(s.next_attempt_at, s.created_at),
           s.last_attempt_at, s.last_error, s.http_status, s.created_at, s.delivered_at
    FROM {SIDE_SCHEMA}.webhook_events s
    """


def _subject_snapshots(cols: frozenset[str]) -> str:
    return f"""
    INSERT INTO subject_snapshots (id, tenant_id, name, version, source_subject_id,
                                   episode_count, memory_count, metadata, created_at)
    SELECT s.id, {_tenant(cols)}, s.name, s.version, s.source_subject_id, s.episode_count,
           s.memory_count, s.metadata, s.created_at
    FROM {SIDE_SCHEMA}.subject_snapshots s
    """


def _compile_jobs(cols: frozenset[str]) -> str:
    # The original's worker is gone: a job it was running is queued again (compiling is
    # idempotent); its ``failed`` is our terminal ``dead``.
    return f"""
    INSERT INTO compilation_jobs (id, tenant_id, subject_id, kind, status, attempts,
                                  run_after, memories_created, error, created_at,
                                  started_at, completed_at)
    SELECT s.id, {_tenant(cols)}, s.subject_id, 'compile',
           CASE s.status WHEN 'pending' THEN 'pending' WHEN 'running' THEN 'pending'
                         WHEN 'completed' THEN 'completed' ELSE 'dead' END,
           CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END,
           s.created_at, s.memories_created, s.error, s.created_at,
           CASE WHEN s.status = 'running' THEN NULL ELSE s.started_at END, s.completed_at
    FROM {SIDE_SCHEMA}.compile_jobs s
    """


def _rate_limit_hits(_: frozenset[str]) -> str:
    return f"""
    INSERT INTO rate_limit_hits (key, window_start, hit_count, updated_at)
    SELECT s.key, s.window_start, s.hit_count, COALESCE(s.updated_at, now())
    FROM {SIDE_SCHEMA}.rate_limit_hits s
    """


def _resolutions(cols: frozenset[str]) -> str:
    # The original had no unique (tenant, subject, session): keep the latest row of each.
    return f"""
    INSERT INTO resolutions (id, tenant_id, subject_id, session_id, status,
                             resolution_summary, resolved_at, metadata, created_at, updated_at)
    SELECT DISTINCT ON ({_tenant(cols)}, s.subject_id, s.session_id)
           s.id, {_tenant(cols)}, s.subject_id, s.session_id, s.status,
           s.resolution_summary, s.resolved_at, s.metadata_, s.created_at, s.updated_at
    FROM {SIDE_SCHEMA}.resolutions s
    ORDER BY {_tenant(cols)}, s.subject_id, s.session_id, s.updated_at DESC, s.created_at DESC
    """


def _subject_health_cache(cols: frozenset[str]) -> str:
    return f"""
    INSERT INTO subject_health_cache (tenant_id, subject_id, last_state, last_score, updated_at)
    SELECT {_tenant(cols)}, s.subject_id, s.last_state, s.last_score, s.updated_at
    FROM {SIDE_SCHEMA}.subject_health_cache s
    """


# Original table → (our table, its INSERT … SELECT); no foreign keys, so any order works.
# ``memories`` is apart: its builder also needs the embedding column's type.
_COPIES: dict[str, tuple[str, Callable[[frozenset[str]], str]]] = {
    "episodes": ("episodes", _episodes),
    "webhook_events": ("webhook_events", _webhook_events),
    "subject_snapshots": ("subject_snapshots", _subject_snapshots),
    "compile_jobs": ("compilation_jobs", _compile_jobs),
    "rate_limit_hits": ("rate_limit_hits", _rate_limit_hits),
    "resolutions": ("resolutions", _resolutions),
    "subject_health_cache": ("subject_health_cache", _subject_health_cache),
}


def _embedding_is_text(connection: Connection) -> bool:
    found = connection.execute(
        text(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(:table) AND a.attname = 'embedding'"
        ),
        {"table": f"{SIDE_SCHEMA}.memories"},
    ).scalar()
    return found == "text"


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _move_aside(connection: Connection, tables: Columns) -> None:
    connection.execute(text(f"CREATE SCHEMA {SIDE_SCHEMA}"))
    for table in tables:
        connection.execute(text(f"ALTER TABLE {table} SET SCHEMA {SIDE_SCHEMA}"))
    # Its revision ids are not in our chain: out of the way, our chain starts from base.
    connection.execute(text(f"ALTER TABLE IF EXISTS alembic_version SET SCHEMA {SIDE_SCHEMA}"))


def _copy_rows(connection: Connection, tables: Columns) -> AdoptionReport:
    report = AdoptionReport()
    memories_sql = _memories(tables["memories"], _embedding_is_text(connection))
    copies = [("memories", "memories", memories_sql)]
    copies += [
        (source, target, build(tables[source]))
        for source, (target, build) in _COPIES.items()
        if source in tables
    ]
    connection.execute(text(_TRY_VECTOR))
    for source, target, sql in copies:
        copied = connection.execute(text(sql)).rowcount
        expected = _count(connection, f"{SIDE_SCHEMA}.{source}")
        if source == "resolutions":
            report.merged_resolutions = expected - copied
        elif copied != expected:
            raise RuntimeError(f"adoption copied {copied} of {expected} rows of {source}")
        report.copied[target] = copied
    # No adopted memory has a vector of our model yet: all of them await the backfill.
    report.memories_awaiting_embedding = report.copied["memories"]
    return report


def adopt(connection: Connection, build_schema: Callable[[], None]) -> AdoptionReport:
    """Turn the original's schema and rows into ours, inside the caller's transaction.

    ``build_schema`` must create our schema at head in the current (emptied) schema, on the
    same connection and transaction. The caller commits; any exception must roll back.
    """
    columns = read_columns_sync(connection)
    tables = {name: columns[name] for name in ORIGINAL_COLUMNS if name in columns}
    log.info("Adopting the original Statewave schema (tables: %s)", ", ".join(sorted(tables)))
    _move_aside(connection, tables)
    build_schema()
    report = _copy_rows(connection, tables)
    connection.execute(text(f"DROP SCHEMA {SIDE_SCHEMA} CASCADE"))
    return report


def embedding_note(count: int) -> str | None:
    """What to tell the operator about ``count`` memories awaiting this server's vectors."""
    if count <= 0:
        return None
    return (
        f"{count} memories carry the original Statewave's vectors (or none), which never "
        "compare with this server's: they are queued for `statewave embeddings backfill`, "
        "run it after `alembic upgrade head` (until then they are found by text search only)"
    )


async def count_awaiting_embedding(conn: AsyncConnection) -> int:
    """Memories the backfill will embed because of an adoption (for preflight to print).

    On the original's schema (not adopted yet): all of its memories. On ours (from
    ``0004``, where vectors got their model's name): those with no vector, or still the
    original's. Anything else: 0.
    """
    columns = await read_columns(conn)
    family = classify(columns)
    if family is SchemaFamily.ORIGINAL_0_6_1:
        sql = "SELECT count(*) FROM memories"
    elif family is SchemaFamily.OURS and "embedding_model" in columns.get("memories", ()):
        sql = (
            "SELECT count(*) FROM memories WHERE embedding IS NULL "
            f"OR embedding_model = '{ORIGINAL_EMBEDDING_MODEL}'"
        )
    else:
        return 0
    return int((await conn.execute(text(sql))).scalar_one())
