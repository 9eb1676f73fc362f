"""The operator runbook's literal values, shared by every test that checks them."""

from __future__ import annotations

REVISIONS = [
    "0001_initial_schema",
    "0002_add_last_compiled_at",
    "0003_add_embedding_index",
    "0004_embedding_as_text",
    "0005_webhook_events",
    "0006_add_subject_snapshots",
    "0007_add_compilation_jobs",
    "0008_add_tenant_id_columns",
    "0009_add_rate_limit_table",
    "0010_add_session_id",
    "0011_add_resolutions_table",
    "0012_add_health_cache",
]
HEAD = REVISIONS[-1]

# The /ops/migrations example, keys in the runbook's order.
MIGRATIONS_EXAMPLE = {
    "current_revision": "0012_add_health_cache",
    "expected_head": "0012_add_health_cache",
    "is_compatible": True,
    "pending_count": 0,
    "pending_revisions": [],
    "error": None,
    "summary": "Schema is up to date",
}
STATUS_KEYS = list(MIGRATIONS_EXAMPLE)

# "Stuck compilation jobs after upgrade", verbatim.
RESET_STUCK_JOBS_SQL = """UPDATE compilation_jobs SET status = 'pending', claimed_at = NULL
WHERE status = 'running' AND claimed_at < NOW() - INTERVAL '30 minutes';"""
