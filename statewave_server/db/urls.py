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
