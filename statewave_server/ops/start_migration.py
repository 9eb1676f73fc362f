"""``./start.sh``'s migration step: never silently undo a rollback.

An operator who ran ``alembic downgrade 0011`` and restarts must find the database where
they left it, so an external database is migrated on start only when
``STATEWAVE_MIGRATE_ON_START`` says so. The embedded database has no operator to ask: it
is kept at head, as ``statewave serve`` does.
"""

from __future__ import annotations

import structlog

from statewave_server.db.engine import resolve_database_url
from statewave_server.db.migrate import upgrade_to_head
from statewave_server.db.urls import describe
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.start")


def migrate_on_start(settings: Settings) -> int:
    """Migrate when allowed; 0 on success or when skipped, 1 if the migration failed."""
    url = resolve_database_url(settings)
    if settings.database_url is not None and not settings.migrate_on_start:
        log.info(
            "migrate_on_start_skipped",
            database=describe(url),
            detail="external database not migrated on start (STATEWAVE_MIGRATE_ON_START is "
            "not set): run `python scripts/preflight.py`, back up, then `alembic upgrade head`",
        )
        return 0
    log.info("migrate_on_start", database=describe(url))
    try:
        upgrade_to_head(url if settings.database_url is None else None)
    except Exception as exc:  # a failing revision, a lock timeout, an outage: one clear line
        log.error("migrate_on_start_failed", error=f"{type(exc).__name__}: {str(exc)[:500]}")
        return 1
    return 0
