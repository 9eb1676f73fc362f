"""Static checks behind ``docs/scaling.md``: the schema and the SQL are ready to be
distributed by ``tenant_id`` (Citus). Every table is either distributed (its primary
key and unique keys lead with ``tenant_id``, so each row and each uniqueness check lives
on one shard) or deliberately kept on the coordinator, the tables created outside the
revision chain included (checked against a really migrated database); and every statement in
``statewave_server/db`` that reads, updates or deletes a distributed table filters by
``tenant_id`` (a single-shard query), unless it is listed below as a deliberate
all-tenant scan."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Index, Table, UniqueConstraint

from devtools.postgres import PgServer
from statewave_server.db.migration_audit import AUDIT_TABLE, OUTSIDE_CHAIN_TABLES
from statewave_server.db.models import Base
from statewave_server.db.webhook_attempts import ATTEMPTS_TABLE

DB_PACKAGE = Path(__file__).resolve().parents[2] / "statewave_server" / "db"

DISTRIBUTED = {"episodes", "memories", "resolutions", "subject_health_cache"}
# Not tenant-keyed in the 0.6.1 schema (changing a primary key would change the schema
# the runbook pins): small tables that stay on the coordinator (docs/scaling.md).
COORDINATOR = {
    "compilation_jobs": "a queue claimed across tenants (FOR UPDATE SKIP LOCKED)",
    "webhook_events": "the outbox, claimed across tenants",
    "rate_limit_hits": "keyed by client, not tenant",
    "subject_snapshots": "primary key is id alone; a handful of rows per tenant",
    # Created by every migration run, outside the revision chain (not in Base.metadata).
    ATTEMPTS_TABLE: "the attempt log follows its outbox (webhook_events), which stays here",
    AUDIT_TABLE: "migration metadata, written by alembic on the coordinator",
}
# Statements that read every tenant on purpose (multi-shard on Citus), by function.
ALL_TENANTS = {
    "memories.py:missing_embeddings_page": "embedding backfill walks every tenant",
    "memories.py:count_missing_embeddings": "embedding backfill progress",
    "admin_queries/counts.py:health_state_counts": "operator dashboard, all tenants",
    "admin_queries/counts.py:tenant_ids": "lists the tenants",
    "admin_queries/explorer.py:_matches": "correlated to the outer episode row's tenant "
    "(the operator's subject search, itself tenant-filtered when a tenant is chosen)",
    "admin_queries/activity.py:episodes_recorded": "operator dashboard's sparkline, all tenants",
}
_BUILDERS = {"select", "update", "delete", "exists", "text"}


def _tables() -> dict[str, Table]:
    return {t.name: t for t in Base.metadata.sorted_tables}


def _model_names(tables: set[str]) -> set[str]:
    return {m.class_.__name__ for m in Base.registry.mappers if m.local_table.name in tables}


def _unique_keys(table: Table) -> list[list[str]]:
    keys = [[c.name for c in table.primary_key.columns]]
    keys += [
        [c.name for c in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [
        [str(getattr(e, "name", e)) for e in index.expressions]
        for index in table.indexes
        if isinstance(index, Index) and index.unique
    ]
    return keys


def test_every_table_is_distributed_or_kept_on_the_coordinator() -> None:
    assert set(_tables()) | OUTSIDE_CHAIN_TABLES == DISTRIBUTED | set(COORDINATOR)
    assert not DISTRIBUTED & set(COORDINATOR)


def test_every_table_of_a_migrated_database_is_classified(
    pg: PgServer, migrated_template: str
) -> None:
    """Whatever creates a table (a revision, the migration run, anything else that
    ``alembic upgrade head`` runs), the real database shows it; only Alembic's own version
    table needs no classification."""
    listed = pg.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", migrated_template
    )
    assert set(listed.split()) - {"alembic_version"} == DISTRIBUTED | set(COORDINATOR)


def test_sequences_belong_only_to_coordinator_tables(pg: PgServer, migrated_template: str) -> None:
    """docs/scaling.md: no distributed table needs a sequence (their ids are UUIDs or
    strings); the only sequences are the BIGSERIAL keys of the coordinator-local tables
    created outside the chain. A sequence owned by no table shows as ``-``."""
    owners = pg.psql(
        "SELECT DISTINCT COALESCE(t.relname, '-') FROM pg_class s "
        "LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
        "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
        "LEFT JOIN pg_class t ON t.oid = d.refobjid "
        "WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace",
        migrated_template,
    )
    assert set(owners.split()) == OUTSIDE_CHAIN_TABLES
    assert not OUTSIDE_CHAIN_TABLES & DISTRIBUTED


def test_distributed_tables_lead_every_key_with_tenant_id() -> None:
    tables = _tables()
    for name in DISTRIBUTED:
        table = tables[name]
        assert not table.c.tenant_id.nullable, name
        for key in _unique_keys(table):
            assert key[0] == "tenant_id", (name, key)


# --- the SQL ----------------------------------------------------------------------------


def _filters_by_tenant(node: ast.AST) -> bool:
    """Whether ``node`` compares some ``….tenant_id`` with a value (``==``, ``IN``, or as
    the leading member of a compared ``tuple_``), or has a ``tenant_id`` keyword
    (``filter_by``)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Compare) and isinstance(sub.ops[0], ast.Eq):
            sides = [_is_tenant(side) for side in [sub.left, *sub.comparators]]
            if sides.count(True) == 1:  # tenant_id = a value (tenant = tenant is a join)
                return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            if sub.func.attr == "in_" and _is_tenant(sub.func.value):
                return True
            if sub.func.attr == "filter_by" and any(k.arg == "tenant_id" for k in sub.keywords):
                return True
    return False


def _is_tenant(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "tenant_id":
        return True
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tuple_":
        return bool(node.args) and _is_tenant(node.args[0])
    return False


def _called_names(node: ast.AST) -> set[str]:
    return {
        sub.func.id
        for sub in ast.walk(node)
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
    }


def _sql_strings(node: ast.AST) -> list[str]:
    return [
        arg.value
        for sub in ast.walk(node)
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", None) == "text"
        for arg in sub.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]


def unfiltered_statements(source: str, models: set[str], tables: set[str]) -> list[str]:
    """Functions of ``source`` that build a select/update/delete (or ``text`` SQL) over
    ``models``/``tables`` without a ``tenant_id`` filter of their own or of a helper
    they call from the same module."""
    functions = {
        node.name: node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }

    def filtered(name: str, seen: frozenset[str] = frozenset()) -> bool:
        node = functions[name]
        if _filters_by_tenant(node) or any("tenant_id" in sql for sql in _sql_strings(node)):
            return True
        helpers = (_called_names(node) & set(functions)) - seen - {name}
        return any(filtered(helper, seen | {name}) for helper in helpers)

    def touches(node: ast.AST) -> bool:
        names = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}
        sql = " ".join(_sql_strings(node)).lower()
        builds = _called_names(node) & _BUILDERS
        return bool(builds) and (bool(names & models) or any(t in sql for t in tables))

    return [name for name, node in functions.items() if touches(node) and not filtered(name)]


def test_the_checker_catches_a_statement_without_a_tenant_filter() -> None:
    source = (
        "async def bad(session, subject_id):\n"
        "    return await session.scalars(select(Memory).where(Memory.subject_id == subject_id))\n"
        "def _scoped(tenant_id):\n"
        "    return select(Memory).where(Memory.tenant_id == tenant_id)\n"
        "async def good(session, tenant_id):\n"
        "    return await session.scalars(_scoped(tenant_id).limit(3))\n"
        "async def raw(session):\n"
        "    return await session.execute(text('SELECT count(*) FROM memories'))\n"
    )
    assert unfiltered_statements(source, {"Memory"}, {"memories"}) == ["bad", "raw"]


def test_every_statement_on_a_distributed_table_filters_by_tenant() -> None:
    models = _model_names(DISTRIBUTED)
    unfiltered = {
        f"{path.relative_to(DB_PACKAGE).as_posix()}:{name}"
        for path in sorted(DB_PACKAGE.rglob("*.py"))
        for name in unfiltered_statements(path.read_text(), models, DISTRIBUTED)
    }
    assert unfiltered - set(ALL_TENANTS) == set()
    assert set(ALL_TENANTS) - unfiltered == set()  # the list names only real exceptions
