"""Rows 4 and 30 of the runbook walk: ``statewave backup`` / ``statewave restore``, for real."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from devtools.postgres import PgServer, alembic, run_cli
from tests.ops import preflight_json

ROWS = "SELECT count(*) FROM episodes"


def _app_role_database(pg: PgServer, role: str) -> tuple[str, str]:
    """An empty database owned by an ordinary (non-superuser) role: (its URL as that role,
    its name)."""
    url = pg.create_database("restore")
    name = pg.database_name(url)
    pg.psql(f'ALTER DATABASE "{name}" OWNER TO "{role}"')
    return make_url(url).set(username=role).render_as_string(hide_password=False), name


def test_row_04_30_backup_then_restore_round_trip(pg: PgServer, tmp_path: Path) -> None:
    source = pg.create_database("src")
    alembic("upgrade", "head", database_url=source)
    pg.psql_in(
        pg.database_name(source),
        "INSERT INTO episodes (id, subject_id, source, type, payload) "
        "SELECT gen_random_uuid(), 'ana', 'chat', 'message', jsonb_build_object('n', g) "
        "FROM generate_series(1, 25) g",
    )
    dump = tmp_path / "backup.dump"
    done = run_cli(["statewave_server", "backup", str(dump)], source)
    assert done.returncode == 0, done.stderr
    assert dump.stat().st_size > 0 and not dump.with_name("backup.dump.partial").exists()
    assert "Equivalent command: " in done.stdout and " -Fc -f " in done.stdout
    assert "pginstall18/bin/pg_dump" in done.stdout  # the system's pg_dump 15 is too old

    role = f"restorer_{pg.database_name(source)}"
    pg.psql(f'CREATE ROLE "{role}" LOGIN')
    target, name = _app_role_database(pg, role)
    refused = run_cli(["statewave_server", "restore", str(dump)], target)
    assert refused.returncode == 1
    assert f"run `CREATE EXTENSION vector;` in database '{name}'" in refused.stderr
    assert pg.psql_in(name, "SELECT count(*) FROM pg_tables WHERE schemaname='public'") == "0"

    pg.psql_in(name, "CREATE EXTENSION vector;")
    restored = run_cli(["statewave_server", "restore", str(dump)], target)
    assert restored.returncode == 0, restored.stderr
    assert "pg_restore --no-owner" in restored.stdout.replace("pginstall18/bin/", "")
    assert pg.psql_in(name, ROWS) == "25"
    code, report = preflight_json(target)
    assert code == 0 and report["summary"] == "Schema is up to date"

    again = run_cli(["statewave_server", "restore", str(dump)], target)
    assert again.returncode == 1 and "is not empty" in again.stderr
    cleaned = run_cli(["statewave_server", "restore", "--clean", str(dump)], target)
    assert cleaned.returncode == 0, cleaned.stderr
    assert pg.psql_in(name, ROWS) == "25"


def test_row_04_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    dump = tmp_path / "never.dump"
    nowhere = f"postgresql+asyncpg://postgres@/statewave?host={tmp_path}"
    done = run_cli(["statewave_server", "backup", str(dump)], nowhere)
    assert done.returncode == 1 and "unreachable" in done.stderr
    assert not dump.exists() and not list(tmp_path.glob("*.partial"))


def test_row_04_backup_without_a_configured_database_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        ["statewave_server", "backup", str(tmp_path / "x.dump")],
        None,
        extra_env={"STATEWAVE_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 1 and "No database configured" in done.stderr
    assert not (tmp_path / "data").exists()
