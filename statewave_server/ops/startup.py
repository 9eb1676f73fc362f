"""Apply the schema guard at startup: warn and start, or refuse with one clear line."""

from __future__ import annotations

import logging
import os
import sys

import structlog

from statewave_server.db.engine import Database
from statewave_server.ops.guard import GuardResult, check_schema
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.startup")


async def enforce_schema_guard(settings: Settings, database: Database) -> GuardResult:
    """Warn on a mismatch; in strict mode refuse to start. Returns what was found.

    A refusal exits the process directly: raising from the lifespan would make uvicorn
    print a traceback, and an operator needs one line saying what is wrong and the fix.
    """
    result = await check_schema(settings, database.engine)
    if result.ok:
        log.info("schema_ok", revision=result.status.current_revision)
        return result
    if not result.refuse:
        log.warning(
            "schema_mismatch", detail=result.message, pending_count=result.status.pending_count
        )
        return result
    log.error("schema_guard_refused", detail=result.message)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(1)
