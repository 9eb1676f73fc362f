"""Jinja filters: times (relative, with the exact UTC time on hover), durations, tenant
labels, JSON and `code` spans."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape


def exact(value: datetime | None) -> str:
    """The exact time, in UTC, to the second."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(seconds: float) -> str:
    """A short, coarse age: "40s", "12 min", "5 h", "3 d" (the exact time is in the title)."""
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86_400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86_400)} d"


def _relative(value: datetime) -> str:
    seconds = (datetime.now(UTC) - value).total_seconds()
    return f"in {_age(-seconds)}" if seconds < 0 else f"{_age(seconds)} ago"


def when(value: datetime | None) -> Markup | str:
    """``<time>`` with the relative time ("3 min ago", "in 2 min") and the exact UTC time
    on hover (``title``) and for machines (``datetime``)."""
    if value is None:
        return "—"
    iso = value.astimezone(UTC).isoformat()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso, exact(value), _relative(value)
    )


def stamp(value: datetime | None) -> Markup | str:
    """Timelines: the exact time shown (neighbours minutes apart must differ), the relative
    one on hover."""
    if value is None:
        return "—"
    iso = value.astimezone(UTC).isoformat()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso, _relative(value), exact(value)
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def tenant_label(tenant_id: str) -> str:
    return tenant_id if tenant_id else "(default)"


def code_spans(text: str) -> Markup:
    """Markdown-style `code` in a message (readiness details) as ``<code>``, escaped."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return Markup("`".join(parts))
    return Markup("".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts)))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
