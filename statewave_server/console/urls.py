"""Console URLs: subject ids are one encoded path segment, so ``/`` never changes the
route; pager links keep the page's other filters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import quote, urlencode


def quote_segment(value: str) -> str:
    """One URL path segment (``/`` encoded too, so subject ids never change the route)."""
    return quote(value, safe="")


@lru_cache(maxsize=1024)
def _subject_parts(*, tenant_id: str, subject_id: str) -> tuple[str, str]:
    """The subject's path and tenant query, encoded once (a page links hundreds of times)."""
    query = f"?{urlencode({'tenant_id': tenant_id})}" if tenant_id else ""
    return f"/console/subjects/{quote_segment(subject_id)}", query


def subject_url(*, tenant_id: str, subject_id: str, suffix: str = "") -> str:
    path, query = _subject_parts(tenant_id=tenant_id, subject_id=subject_id)
    return f"{path}{suffix}{query}"


def episode_url(*, tenant_id: str, subject_id: str, episode_id: uuid.UUID | str) -> str:
    return subject_url(tenant_id=tenant_id, subject_id=subject_id, suffix=f"/episodes/{episode_id}")


def memory_url(*, tenant_id: str, subject_id: str, memory_id: uuid.UUID | str) -> str:
    return subject_url(tenant_id=tenant_id, subject_id=subject_id, suffix=f"/memories/{memory_id}")


def session_url(*, tenant_id: str, subject_id: str, session_id: str) -> str:
    query = urlencode({"tenant_id": tenant_id, "session_id": session_id})
    return f"/console/subjects/{quote_segment(subject_id)}/session?{query}"


def page_url(path: str, params: Mapping[str, str | int | None], **changes: str | int) -> str:
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v is not None and v != ""}
    return f"{path}?{urlencode(kept)}" if kept else path


def page_at(
    path: str, params: Mapping[str, str | int | None], key: str, offset: int, anchor: str = ""
) -> str:
    """``path`` with ``params`` and ``key=offset`` (a pager link), then ``#anchor``."""
    url = page_url(path, params, **{key: offset or ""})
    return f"{url}#{anchor}" if anchor else url
