"""Choosing where imported data goes: id rules and the conflict strategies."""

from __future__ import annotations

import re
import secrets
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db.admin_queries.subject_rows import has_data
from statewave_server.errors import BadRequest, Conflict

ConflictStrategy = Literal["create_copy", "merge", "cancel"]
SUBJECT_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,128}$")
RESERVED_PREFIX = "demo_web_"


def check_subject_id(subject_id: str, *, allow_reserved: bool = False) -> str:
    """``subject_id`` if it is a valid import target, else :class:`BadRequest`."""
    if not SUBJECT_ID.match(subject_id):
        raise BadRequest(
            f"Invalid subject id {subject_id!r}: 1-128 characters of letters, digits, _ . - :"
        )
    if subject_id.startswith(RESERVED_PREFIX) and not allow_reserved:
        raise BadRequest(f"Subject ids starting with {RESERVED_PREFIX!r} are reserved")
    return subject_id


def suffixed(base: str) -> str:
    """``<base>-<8 hex>`` (a reserved or invalid base becomes ``imported``)."""
    if base.startswith(RESERVED_PREFIX) or not SUBJECT_ID.match(base):
        base = "imported"
    return f"{base[:119]}-{secrets.token_hex(4)}"


async def resolve_target(
    session: AsyncSession,
    tenant_id: str,
    *,
    explicit: str | None,
    suggestion: str,
    strategy: ConflictStrategy,
    allow_reserved: bool = False,
) -> str:
    """The subject to write into: an explicit id (``merge`` into it, ``cancel`` → 409 when
    populated, ``create_copy`` → a fresh suffixed id), else the suggestion if empty."""
    if explicit:
        check_subject_id(explicit, allow_reserved=allow_reserved)
        if not await has_data(session, tenant_id=tenant_id, subject_id=explicit):
            return explicit
        if strategy == "merge":
            return explicit
        if strategy == "cancel":
            raise Conflict(f"Subject '{explicit}' already has data", code="target_not_empty")
        return suffixed(explicit)
    base_ok = SUBJECT_ID.match(suggestion) and not suggestion.startswith(RESERVED_PREFIX)
    if base_ok and not await has_data(session, tenant_id=tenant_id, subject_id=suggestion):
        return suggestion
    if base_ok and strategy == "merge":
        return suggestion
    if base_ok and strategy == "cancel":
        raise Conflict(f"Subject '{suggestion}' already has data", code="target_not_empty")
    return suffixed(suggestion)
