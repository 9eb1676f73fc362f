"""Startup schema guard: may this app version run on the database as it is?

Rule: a DB revision inside this version's [min compatible, expected head] window passes.
Anything else (behind, ahead, unknown revision, unreachable DB) warns with the fix and lets
the app start, unless ``settings.strict_schema`` is set: then it is a refusal. Free of
FastAPI so the lifespan, the CLI and tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from statewave_server.ops.migrations import UNREACHABLE, MigrationStatus, check_migration_status
from statewave_server.settings import Settings

FIX = "run `python scripts/preflight.py`, then `alembic upgrade head`"


@dataclass(frozen=True)
class GuardResult:
    """``ok``: start silently; otherwise log ``message``, and refuse to start if ``refuse``."""

    ok: bool
    refuse: bool
    message: str | None
    status: MigrationStatus


def judge(status: MigrationStatus, *, strict: bool) -> GuardResult:
    """Apply the guard rule to a migration status (pure, so the rule is unit-tested)."""
    if status.is_compatible and status.error is None:
        return GuardResult(ok=True, refuse=False, message=None, status=status)
    problem, fix = _diagnose(status)
    message = f"{problem.rstrip('.')}. Fix: {fix}."
    if strict:
        message = f"Refusing to start (STATEWAVE_STRICT_SCHEMA=1). {message}"
    return GuardResult(ok=False, refuse=strict, message=message, status=status)


def _diagnose(status: MigrationStatus) -> tuple[str, str]:
    """What is wrong, and what the operator should run about it."""
    if status.error is None:
        return f"Schema mismatch: {status.summary}", FIX
    if status.error.startswith(UNREACHABLE):
        return f"Schema check failed: {status.error}", "check the database, then " + FIX
    # The database is newer than this app: upgrading is not the fix, the error says what is.
    return f"Schema mismatch: {status.error}", "run `python scripts/preflight.py`"


async def check_schema(settings: Settings, database_url: str | AsyncEngine) -> GuardResult:
    """Check the database (bounded by the connect timeout) and judge it against the window."""
    status = await check_migration_status(
        database_url, timeout_seconds=settings.db_connect_timeout_seconds
    )
    return judge(status, strict=settings.strict_schema)
