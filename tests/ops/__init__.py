"""Helpers shared by the ops tests (preflight, guard, readiness, ops endpoints)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from devtools.postgres import REPO_ROOT, PgServer, alembic
from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.settings import Settings


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Settings for one database, ignoring any ``.env`` of the developer."""
    return Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[call-arg]


def database_at(pg: PgServer, revision: str) -> str:
    """A fresh database migrated with the real ``alembic upgrade <revision>``."""
    url = pg.create_database("rev")
    alembic("upgrade", revision, database_url=url)
    return url


def no_server_url(socket_dir: Path) -> str:
    """A URL pointing at a socket directory where no PostgreSQL listens."""
    return f"postgresql+asyncpg://postgres@/statewave?host={socket_dir}"


def run_script(
    args: list[str], database_url: str, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` from the repo root as an operator would (not ``-m``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env["STATEWAVE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def preflight_json(database_url: str) -> tuple[int, dict[str, Any]]:
    """``python scripts/preflight.py --json``: exit code and parsed report."""
    done = run_script(["scripts/preflight.py", "--json"], database_url)
    return done.returncode, json.loads(done.stdout)


@asynccontextmanager
async def app_client(url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the real app on ``url`` (no lifespan, no in-process worker)."""
    settings = settings_for(url, run_worker_in_process=False, **overrides)
    database = Database.from_settings(settings, url)
    transport = httpx.ASGITransport(app=create_app(settings, database), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield http
    finally:
        await database.dispose()
