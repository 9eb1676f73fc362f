"""Where session-bound work connects when the database URL goes through a
transaction-mode pooler, and migrations' refusal to run through the pooler."""

from __future__ import annotations

from devtools.postgres import run_cli
from devtools.server import free_port
from statewave_server.db.engine import Database
from statewave_server.db.urls import to_async_url
from statewave_server.settings import Settings

POOLER = "postgresql://app@127.0.0.1:6432/statewave"
DIRECT = "postgresql://app@db.internal:5432/statewave"


def _listen_url(**values: object) -> str | None:
    settings = Settings(_env_file=None, database_url=POOLER, **values)  # type: ignore[call-arg]
    return Database.from_settings(settings).listen_url


def test_session_bound_work_goes_to_the_direct_url_never_to_the_pooler() -> None:
    assert _listen_url() == to_async_url(POOLER)  # no pooler declared: the one URL
    assert _listen_url(database_pooled=True) is None  # nowhere to LISTEN
    assert _listen_url(database_pooled=True, direct_database_url=DIRECT) == to_async_url(DIRECT)


def test_pooled_migrations_need_and_use_the_direct_url(head_db_url: str) -> None:
    nothing_listens = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/statewave"
    pooled = {"STATEWAVE_DATABASE_POOLED": "true"}
    refused = run_cli(["alembic", "upgrade", "head"], nothing_listens, extra_env=pooled)
    assert refused.returncode != 0
    assert "STATEWAVE_DIRECT_DATABASE_URL" in refused.stderr
    # The pooled URL reaches nothing: succeeding proves the direct URL was used.
    direct = {**pooled, "STATEWAVE_DIRECT_DATABASE_URL": head_db_url}
    done = run_cli(["alembic", "upgrade", "head"], nothing_listens, extra_env=direct)
    assert done.returncode == 0, done.stderr
