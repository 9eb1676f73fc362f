"""An additive migration applied while the API serves reads, with a long transaction
holding a lock on the table: ``alembic upgrade`` times out on the lock and retries instead
of queueing every read behind its ``ALTER TABLE``, so no read waits longer than the
configured ``lock_timeout`` (plus scheduling margin), and the migration completes.

The long version is ``bench/reliability.py migration``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.harness import migration_under_load, scratch_alembic
from tests.reliability.support import in_process_api

LOCK_TIMEOUT_MS = 500
MARGIN_SECONDS = 1.0  # a loaded 2-core machine: event loop and scheduling delays


@pytest.mark.slow
async def test_reads_are_never_blocked_longer_than_the_lock_timeout(
    head_db_url: str, tmp_path: Path
) -> None:
    ini = scratch_alembic(tmp_path)
    async with in_process_api(head_db_url, headers={"X-Tenant-ID": "mig"}) as (_, client):
        for i in range(20):
            body = {"subject_id": "m", "source": "s", "type": "t", "payload": {"i": i}}
            assert (await client.post("/v1/episodes", json=body)).status_code == 201

        async def read() -> int:
            response = await client.get("/v1/timeline", params={"subject_id": "m"})
            return response.status_code

        result = await migration_under_load(
            head_db_url, read, ini, lock_timeout_ms=LOCK_TIMEOUT_MS, blocker_seconds=3.0
        )
    assert result.migration_returncode == 0, result
    assert result.column_added
    assert result.lock_timeout_retries >= 1  # it really had to wait for the lock
    assert result.read_errors == 0
    assert result.reads > 50
    assert result.max_read_seconds < LOCK_TIMEOUT_MS / 1000 + MARGIN_SECONDS, result
