"""``statewave migrate upgrade|downgrade|current|history`` as real processes on fresh databases.

The commands go through ``alembic/env.py``, so the migration lock, the timeouts and the
audit rows are the same as with the ``alembic`` command line.
"""

from __future__ import annotations

import os
import subprocess
import sys

from devtools.postgres import REPO_ROOT, PgServer, run_cli
from statewave_server.db.migration_audit import MIGRATION_LOCK_KEY
from tests.db.support import (
    HEAD,
    audit_rows,
    current_revision,
    dbname,
    psql_popen,
    revisions_in_order,
    tables,
    terminate,
    wait_for,
)


def migrate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["statewave_server", "migrate", *args], url)


def _current(url: str) -> str:
    done = migrate(url, "current")
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    return words[0] if words else ""


def test_upgrade_from_empty_to_head_is_audited(pg: PgServer, empty_db_url: str) -> None:
    assert _current(empty_db_url) == ""
    done = migrate(empty_db_url, "upgrade")
    assert done.returncode == 0, done.stderr
    assert _current(empty_db_url) == HEAD == current_revision(empty_db_url)
    assert audit_rows(pg, empty_db_url) == revisions_in_order()
    assert {"episodes", "memories", "compilation_jobs"} <= tables(pg, empty_db_url)
    again = migrate(empty_db_url, "upgrade", "head")  # nothing left to apply
    assert again.returncode == 0, again.stderr
    assert audit_rows(pg, empty_db_url) == revisions_in_order()


def test_upgrade_to_a_revision_then_downgrade_and_back(pg: PgServer, empty_db_url: str) -> None:
    order = revisions_in_order()
    assert migrate(empty_db_url, "upgrade", order[2]).returncode == 0
    assert _current(empty_db_url) == order[2]
    assert audit_rows(pg, empty_db_url) == order[:3]


def test_downgrade_one_step_and_upgrade_again(pg: PgServer, head_db_url: str) -> None:
    previous = revisions_in_order()[-2]
    done = migrate(head_db_url, "downgrade", "-1")
    assert done.returncode == 0, done.stderr
    assert _current(head_db_url) == previous
    assert audit_rows(pg, head_db_url, direction="downgrade") == [HEAD]
    assert migrate(head_db_url, "upgrade").returncode == 0
    assert _current(head_db_url) == HEAD


def test_downgrade_needs_a_target(head_db_url: str) -> None:
    done = migrate(head_db_url, "downgrade")
    assert done.returncode == 2  # usage error: nothing is reverted by accident
    assert _current(head_db_url) == HEAD


def test_current_verbose_and_history(head_db_url: str) -> None:
    verbose = migrate(head_db_url, "current", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert HEAD in verbose.stdout
    history = migrate(head_db_url, "history")
    assert history.returncode == 0, history.stderr
    for revision in revisions_in_order():
        assert revision in history.stdout
    assert f"{HEAD} (head)" in history.stdout
    ranged = migrate(head_db_url, "history", "--rev-range", f"{revisions_in_order()[-2]}:head")
    assert ranged.returncode == 0, ranged.stderr
    assert HEAD in ranged.stdout and revisions_in_order()[0] not in ranged.stdout


def test_offline_sql_does_not_touch_the_database(pg: PgServer, empty_db_url: str) -> None:
    done = migrate(empty_db_url, "upgrade", "--sql")
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE episodes" in done.stdout and "lock_timeout" in done.stdout
    assert _current(empty_db_url) == "" and tables(pg, empty_db_url) == set()


def test_failures_exit_1_with_a_message(empty_db_url: str) -> None:
    unknown = migrate(empty_db_url, "upgrade", "9999_does_not_exist")
    assert unknown.returncode == 1
    assert "Migration error" in unknown.stderr
    unreachable = migrate("postgresql+asyncpg://nobody@127.0.0.1:1/none", "current")
    assert unreachable.returncode == 1
    assert "Migration error: Database none on 127.0.0.1:1 as nobody" in unreachable.stderr
    assert "unreachable" in unreachable.stderr and "Traceback" not in unreachable.stderr


def test_upgrade_waits_for_the_migration_lock(pg: PgServer, empty_db_url: str) -> None:
    """Another holder of the advisory lock (a concurrent migration) makes it wait."""
    holder = psql_popen(
        pg, empty_db_url, f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY}), pg_sleep(60)"
    )
    db = dbname(pg, empty_db_url)

    def holder_pid() -> int | None:
        out = pg.psql_in(
            db,
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            f"AND objid = {MIGRATION_LOCK_KEY & 0xFFFFFFFF}",
        )
        return int(out) if out else None

    wait_for(lambda: holder_pid() is not None, what="advisory lock held")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env["STATEWAVE_DATABASE_URL"] = empty_db_url
    upgrade = subprocess.Popen(
        [sys.executable, "-m", "statewave_server", "migrate", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def waiting() -> bool:
            out = pg.psql_in(
                db,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                f"AND objid = {MIGRATION_LOCK_KEY & 0xFFFFFFFF}",
            )
            return out != "0"

        wait_for(waiting, what="the upgrade waiting on the migration lock")
        assert upgrade.poll() is None
        assert tables(pg, empty_db_url) == set()  # nothing applied while it waits
        pid = holder_pid()
        assert pid is not None
        terminate(pg, empty_db_url, pid)
        _, stderr = upgrade.communicate(timeout=120)
        assert upgrade.returncode == 0, stderr
    finally:
        if upgrade.poll() is None:
            upgrade.kill()
            upgrade.wait(10)
        holder.kill()
        holder.wait(10)
    assert _current(empty_db_url) == HEAD
    assert audit_rows(pg, empty_db_url) == revisions_in_order()
