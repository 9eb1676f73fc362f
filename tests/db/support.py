"""Helpers for the migration tests: schema snapshots, generic rows, psql, ``alembic current``."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from devtools.postgres import REPO_ROOT, PgServer, alembic
from statewave_server.db.migration_audit import AUDIT_TABLE, OUTSIDE_CHAIN_TABLES

HEAD = "0012_add_health_cache"
# Not the schema's: Alembic's version table and the tables created outside the chain.
NOT_SCHEMA = (
    "(" + ", ".join(f"'{t}'" for t in sorted({"alembic_version", *OUTSIDE_CHAIN_TABLES})) + ")"
)

_SNAPSHOT_SQL = f"""
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attgenerated = 's' THEN ' GENERATED STORED' ELSE '' END
       || CASE WHEN a.attstorage <> t.typstorage THEN ' STORAGE ' || a.attstorage::text ELSE '' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT IN {NOT_SCHEMA}
UNION ALL
SELECT 'table ' || c.relname || ' WITH ' || array_to_string(c.reloptions, ',')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.reloptions IS NOT NULL
  AND c.relname NOT IN {NOT_SCHEMA}
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename NOT IN {NOT_SCHEMA}
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT IN {NOT_SCHEMA}
ORDER BY 1
"""

_REQUIRED_COLUMNS_SQL = f"""
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND d.adbin IS NULL
  AND c.relname NOT IN {NOT_SCHEMA}
ORDER BY c.relname, a.attnum
"""

_VALUES = {
    "uuid": "gen_random_uuid()",
    "jsonb": "'{}'::jsonb",
    "integer": "(random() * 1000000000)::int",
    "bigint": "(random() * 1000000000)::bigint",
    "double precision": "1",
    "timestamp with time zone": "now()",
    "text": "md5(random()::text)",
}


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini")))


def revisions_in_order() -> list[str]:
    """Revision ids from base to head."""
    return [s.revision for s in reversed(list(script_directory().walk_revisions()))]


def dbname(pg: PgServer, url: str) -> str:
    return pg.database_name(url)


def schema_snapshot(pg: PgServer, url: str) -> list[str]:
    """Columns (type, null, default, generated, non-default storage), table options,
    indexes and constraints of the app's tables."""
    out = pg.psql_in(dbname(pg, url), _SNAPSHOT_SQL)
    return out.splitlines() if out else []


def tables(pg: PgServer, url: str) -> set[str]:
    out = pg.psql_in(
        dbname(pg, url),
        f"SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        f"AND tablename NOT IN {NOT_SCHEMA}",
    )
    return set(out.splitlines()) if out else set()


def row_counts(pg: PgServer, url: str) -> dict[str, int]:
    return {
        table: int(pg.psql_in(dbname(pg, url), f"SELECT count(*) FROM {table}"))
        for table in tables(pg, url)
    }


def _value(sql_type: str) -> str:
    if sql_type.startswith("character varying"):
        return "left(md5(random()::text), 16)"
    return _VALUES[sql_type]


def insert_generic_rows(pg: PgServer, url: str) -> None:
    """Insert one row into every app table, filling required columns by type."""
    required: dict[str, dict[str, str]] = {table: {} for table in tables(pg, url)}
    for line in pg.psql_in(dbname(pg, url), _REQUIRED_COLUMNS_SQL).splitlines():
        table, column, sql_type = line.split("|")
        required[table][column] = _value(sql_type)
    if "memories" in required:  # a 1536-dim vector fits every embedding column type
        required["memories"]["embedding"] = "array_fill(0.5::real, ARRAY[1536])::vector"
    statements = [
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(values.values())});"
        for table, values in required.items()
    ]
    if statements:
        pg.psql_in(dbname(pg, url), "\n".join(statements))


def current_revision(url: str) -> str:
    """What ``alembic current`` prints (revision id only, '' for an empty database)."""
    out = alembic("current", database_url=url).stdout.split()
    return out[0] if out else ""


def audit_rows(pg: PgServer, url: str, direction: str = "upgrade") -> list[str]:
    out = pg.psql_in(
        dbname(pg, url),
        f"SELECT revision FROM {AUDIT_TABLE} WHERE direction = '{direction}' ORDER BY id",
    )
    return out.splitlines() if out else []


def psql_popen(pg: PgServer, url: str, sql: str) -> subprocess.Popen[str]:
    """Run SQL with psql in the background (e.g. to hold a lock), as a separate session."""
    info = pg.server.get_postmaster_info()
    env = {**os.environ, "PGHOST": str(info.socket_dir), "PGUSER": "postgres"}
    psql = Path(pg.server.bin_path) / "psql"
    return subprocess.Popen(
        [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname(pg, url), "-c", sql],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def lock_holder_pid(pg: PgServer, url: str, table: str) -> int | None:
    """The backend holding a granted ACCESS EXCLUSIVE lock on ``table``, if any."""
    out = pg.psql_in(
        dbname(pg, url),
        "SELECT pid FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock' "
        f"AND relation = '{table}'::regclass LIMIT 1",
    )
    return int(out) if out else None


def terminate(pg: PgServer, url: str, pid: int) -> None:
    pg.psql_in(dbname(pg, url), f"SELECT pg_terminate_backend({pid})")
