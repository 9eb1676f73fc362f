"""One line for a database failure a person can act on: which database, which setting
names it and what to try next, without SQLAlchemy's "Background on this error" link."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from statewave_server.settings import Settings

# SQLAlchemy appends "(Background on this error at: https://sqlalche.me/…)"; its asyncpg
# adapter prefixes "<class 'asyncpg.exceptions.X'>: " to the server's own words.
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")
_CLASS_PREFIX = re.compile(r"^<class '[\w.]+'>: ")
_SQL_SHOWN = re.compile(r"\n\[SQL: .*", re.DOTALL)
_UNDEFINED_TABLE = "42P01"


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = _SQL_SHOWN.sub("", _BACKGROUND.sub("", str(cause))).strip()
    text = _CLASS_PREFIX.sub("", text).splitlines()[0] if text else ""
    return text or type(cause).__name__


def _where(settings: Settings) -> tuple[str, str]:
    """The database as a person knows it (no password), and the setting that chose it."""
    if settings.database_url is None:
        return f"the embedded database in {settings.data_dir}", "STATEWAVE_DATA_DIR"
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return "the database", "STATEWAVE_DATABASE_URL"
    port = f":{url.port}" if url.port else ""
    return f"the database at {url.host or 'localhost'}{port}/{url.database or ''}", (
        "STATEWAVE_DATABASE_URL"
    )


def database_failure(exc: BaseException, settings: Settings) -> str:
    """What went wrong, where, and the next step (never a traceback or a docs link)."""
    reason = _reason(exc)
    where, setting = _where(settings)
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate == _UNDEFINED_TABLE:
        return (
            f"Database error: {where} has no Statewave tables ({reason}); "
            "run `statewave migrate upgrade`"
        )
    return (
        f"Database error: cannot use {where}: {reason}. Check {setting} (host, port, user, "
        "password) and that PostgreSQL is running, or pass --url to go through a server's API"
    )
