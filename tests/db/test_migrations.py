"""The revision chain, run with the real ``alembic`` CLI against real PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.postgres import REPO_ROOT, PgServer, alembic, run_cli
from statewave_server.db.migration_audit import OUTSIDE_CHAIN_TABLES
from statewave_server.db.models import Base
from tests.db.support import (
    HEAD,
    audit_rows,
    current_revision,
    insert_generic_rows,
    revisions_in_order,
    row_counts,
    schema_snapshot,
    script_directory,
    tables,
)
from tests.fixtures.runbook import REVISIONS


def _load_revision_module(revision: str) -> object:
    path = REPO_ROOT / "alembic" / "versions" / f"{revision}.py"
    spec = importlib.util.spec_from_file_location(f"rev_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chain_is_linear_with_one_head_and_full_names() -> None:
    scripts = script_directory()
    assert scripts.get_heads() == [HEAD]
    assert revisions_in_order() == REVISIONS
    for revision in REVISIONS:
        script = scripts.get_revision(revision)
        assert script is not None
        assert Path(script.path).stem == revision
        assert len(revision) <= 32


@pytest.mark.parametrize("revision", REVISIONS)
def test_revision_declares_flags_and_docstring(revision: str) -> None:
    module = _load_revision_module(revision)
    assert isinstance(module.additive, bool)  # type: ignore[attr-defined]
    assert isinstance(module.downgrade_loses_data, bool)  # type: ignore[attr-defined]
    assert module.__doc__ and revision in module.__doc__


@pytest.mark.slow
def test_stairway_up_down_up_keeps_schema_and_rows(pg: PgServer, empty_db_url: str) -> None:
    url = empty_db_url
    previous_schema = schema_snapshot(pg, url)
    for revision in REVISIONS:
        alembic("upgrade", revision, database_url=url)
        schema = schema_snapshot(pg, url)
        insert_generic_rows(pg, url)
        counts = row_counts(pg, url)
        assert all(counts.values()), f"{revision}: every table got a row: {counts}"

        alembic("downgrade", "-1", database_url=url)
        assert schema_snapshot(pg, url) == previous_schema, f"downgrade of {revision}"
        surviving = {t: n for t, n in counts.items() if t in tables(pg, url)}
        assert row_counts(pg, url) == surviving, f"rows lost by downgrade of {revision}"

        alembic("upgrade", "+1", database_url=url)
        assert current_revision(url) == revision
        assert schema_snapshot(pg, url) == schema, f"re-upgrade of {revision}"
        previous_schema = schema


@pytest.mark.slow
def test_upgrade_one_step_at_a_time_reaches_head(empty_db_url: str) -> None:
    for revision in REVISIONS:
        alembic("upgrade", "+1", database_url=empty_db_url)
        assert current_revision(empty_db_url) == revision
    done = alembic("upgrade", "+1", database_url=empty_db_url)
    assert "nothing to upgrade" in done.stderr
    assert current_revision(empty_db_url) == HEAD


def test_downgrade_by_prefix_to_0011(pg: PgServer, head_db_url: str) -> None:
    alembic("downgrade", "0011", database_url=head_db_url)
    assert current_revision(head_db_url) == "0011_add_resolutions_table"
    assert "subject_health_cache" not in tables(pg, head_db_url)
    assert "resolutions" in tables(pg, head_db_url)
    assert audit_rows(pg, head_db_url, "downgrade") == [HEAD]


def test_models_match_migrated_schema(pg: PgServer, head_db_url: str) -> None:
    done = alembic("check", database_url=head_db_url, check=False)
    assert done.returncode == 0, done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr


def _not_audit(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    return not (type_ == "table" and name in OUTSIDE_CHAIN_TABLES)


async def _model_diff(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": _not_audit,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_compare_metadata_is_empty_at_head_only(head_db_url: str) -> None:
    assert await _model_diff(head_db_url) == []
    alembic("downgrade", "-1", database_url=head_db_url)
    diff = await _model_diff(head_db_url)
    assert [op[0] for op in diff] == ["add_table"]
    assert diff[0][1].name == "subject_health_cache"


async def test_migrated_schema_equals_create_all(pg: PgServer, head_db_url: str) -> None:
    """Beyond autogenerate: index definitions (partial, GIN, expressions) and defaults."""
    url = pg.create_database("models")
    pg.psql_in(pg.database_name(url), "CREATE EXTENSION vector")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()
    assert schema_snapshot(pg, head_db_url) == schema_snapshot(pg, url)


def test_offline_sql_prints_ddl_and_changes_nothing(pg: PgServer, empty_db_url: str) -> None:
    done = alembic("upgrade", "head", "--sql", database_url=empty_db_url)
    assert "CREATE TABLE episodes" in done.stdout
    assert "CREATE TABLE subject_health_cache" in done.stdout
    assert "INSERT INTO alembic_version" in done.stdout
    out = pg.psql_in(
        pg.database_name(empty_db_url),
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
    assert out == "0"
    assert current_revision(empty_db_url) == ""


def test_offline_sql_for_a_delta(empty_db_url: str) -> None:
    done = alembic("upgrade", "0011_add_resolutions_table:head", "--sql", database_url=empty_db_url)
    assert "CREATE TABLE subject_health_cache" in done.stdout
    assert "CREATE TABLE episodes" not in done.stdout


def test_offline_sql_never_starts_the_embedded_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = run_cli(
        ["alembic", "upgrade", "head", "--sql"],
        None,
        extra_env={"STATEWAVE_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE memories" in done.stdout
    assert not data_dir.exists() or not any(data_dir.iterdir())
