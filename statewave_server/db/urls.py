"""Database URL normalisation shared by the engine, Alembic and the ops checks."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

_ASYNC_DRIVER = "postgresql+asyncpg"


def to_async_url(raw: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` or ``postgresql+asyncpg://`` URLs.

    ``sslmode`` (libpq spelling) becomes asyncpg's ``ssl`` so copied libpq URLs work.
    """
    url: URL = make_url(raw.replace("postgres://", "postgresql://", 1))
    query = dict(url.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    if url.password == "":
        url = url.set(password=None)
    return url.set(drivername=_ASYNC_DRIVER, query=query).render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password hidden, for logs and reports."""
    return make_url(url).render_as_string(hide_password=True)


def describe(url: str) -> str:
    """Which database a URL names, for operators: ``db on host:port as user (redacted URL)``.

    Unix-socket URLs carry the host (a directory) and port in the query string.
    """
    parsed = make_url(url)

    def query(name: str) -> str | None:
        value = parsed.query.get(name)
        return value[0] if isinstance(value, tuple) else value

    host = parsed.host or query("host") or "the default socket"
    port = parsed.port or query("port") or 5432
    user = parsed.username or "the OS user"
    return f"{parsed.database} on {host}:{port} as {user} ({redact(url)})"
