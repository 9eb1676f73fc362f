"""Shared helpers for the reliability tests: the real app in process, real PG helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings


def app_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process app: no .env, no worker, hash embeddings (no model)."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "run_worker_in_process": False,
        "embedding_provider": "hash",
        "webhook_url": "http://127.0.0.1:9/hooks",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def in_process_api(
    db_url: str, headers: dict[str, str] | None = None, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = app_settings(db_url, **overrides)
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers=headers or {}, timeout=30
        ) as client:
            yield app, client
    finally:
        await database.dispose()
