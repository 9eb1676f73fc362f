"""Commands that work straight on the configured database (no server in between).

A short-lived engine per command; domain errors and database failures exit 1 with one
line on stderr.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.cli.db_errors import database_failure
from statewave_server.db.engine import Database, resolve_database_url
from statewave_server.errors import StatewaveError
from statewave_server.settings import Settings, get_settings

T = TypeVar("T")
Db = async_sessionmaker[AsyncSession]


async def with_database(settings: Settings, work: Callable[[Db], Awaitable[T]]) -> T:
    """Run ``work`` with a session factory on a short-lived engine."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    database = Database.from_settings(settings, url)
    try:
        return await work(database.primary)
    finally:
        await database.dispose()


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on a short-lived engine."""

    async def once(db: Db) -> T:
        async with db() as session, session.begin():
            return await work(session)

    return await with_database(settings, once)


def run(work: Callable[[Db], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` against the configured database; failures exit 1 with a message."""
    settings = settings or get_settings()
    try:
        return asyncio.run(with_database(settings, work))
    except StatewaveError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        typer.echo(database_failure(exc, settings), err=True)
        raise typer.Exit(1) from None
