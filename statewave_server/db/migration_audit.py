"""Names shared by the migration run and the ops checks: the audit table and the lock.

The audit table is created by the migration run (``ops/migration_env.py``), outside the
revision chain so it survives a downgrade to base, and gets one row per applied or
reverted revision.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from statewave_server.db.webhook_attempts import ATTEMPTS_TABLE

AUDIT_TABLE = "statewave_migration_audit"
# Operational tables every migration run creates, outside the revision chain: not part of
# the models, never dropped by a downgrade, ignored by autogenerate and the schema checks.
OUTSIDE_CHAIN_TABLES = frozenset({AUDIT_TABLE, ATTEMPTS_TABLE})

# Key of the session-level advisory lock held by ``alembic`` while it migrates.
MIGRATION_LOCK_KEY = 0x5717E3A7E

CREATE_AUDIT_TABLE = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
    id BIGSERIAL PRIMARY KEY,
    revision VARCHAR(32) NOT NULL,
    direction VARCHAR(10) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    app_version VARCHAR(32) NOT NULL,
    duration_ms INTEGER NOT NULL,
    checksum VARCHAR(64) NOT NULL
)
"""


def file_checksum(path: Path | str) -> str:
    """SHA-256 of a revision file, recorded when applied so later edits are detected."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
