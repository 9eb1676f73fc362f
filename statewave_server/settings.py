"""One settings object for every entry point (server, CLI, Alembic, preflight).

Values come from the environment (prefix ``STATEWAVE_``) and from a ``.env`` file in the
working directory; ``DATABASE_URL`` is accepted as a fallback for the database URL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("statewave", appauthor=False))


def blank_key_is_none(value: SecretStr | None) -> SecretStr | None:
    """``STATEWAVE_API_KEY=`` (empty) means no key, everywhere it is checked."""
    return value if value is not None and value.get_secret_value() else None


class Settings(BaseSettings):
    """Runtime configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="STATEWAVE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Database
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STATEWAVE_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL; unset = embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_echo: bool = False
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 10.0
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_ms: int = 30_000
    # Client-side bound on every database round trip: a frozen server (which cannot time
    # out its own statements) then costs a request this long and answers 503.
    db_command_timeout_seconds: float = 35.0

    # Connection pooler (db/engine.py). database_pooled: database_url goes through a
    # transaction-mode pooler (PgBouncer), so no prepared statements are kept and nothing
    # session-bound is sent through it. direct_database_url: PostgreSQL itself, for what
    # needs a session (the memory-change LISTEN, migrations' advisory lock).
    database_pooled: bool = False
    direct_database_url: str | None = None
    # Read replica (db/read_routing.py): context, search, timeline and listing reads go to
    # this streaming replica when it has replayed every write acknowledged before the read
    # started (else to the primary, after waiting up to read_replica_max_wait_ms).
    read_database_url: str | None = None
    read_replica_max_wait_ms: int = Field(default=10, ge=0, le=1000)

    # HTTP server and logging
    host: str | None = Field(
        default=None, description="Bind address; unset = 0.0.0.0 with an API key, else 127.0.0.1."
    )
    port: int = 8100
    debug: bool = False
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    max_body_bytes: int = 10 * 1024 * 1024
    # A request body must arrive within this time (408 otherwise), and only so many bodies
    # may be on their way at once (503 beyond): stalled uploads cannot pile up.
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    # Request headers must be complete this soon (statewave serve / ./start.sh only).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    max_concurrent_uploads: int = Field(default=32, ge=1)

    # Security: API key, tenants, rate limiting, CORS
    api_key: SecretStr | None = None
    tenant_header: str = "X-Tenant-ID"
    require_tenant: bool = False
    rate_limit_rpm: int = 0
    rate_limit_strategy: Literal["memory", "distributed"] = "memory"
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    # Host header names served (DNS rebinding); empty = any with an API key, else loopback.
    allowed_hosts: list[str] = Field(default_factory=list)
    # Wrong API keys (and failed console logins) per client IP and minute before 429.
    auth_failure_limit: int = Field(default=10, ge=0)
    # Force the console cookies' Secure flag (behind a TLS proxy); unset = when https.
    console_secure_cookie: bool | None = None
    tracing_enabled: bool = True

    # Compilation
    compiler_type: Literal["heuristic", "llm"] = "heuristic"
    litellm_model: str = "gpt-4o-mini"
    litellm_api_base: str | None = None
    litellm_api_key: SecretStr | None = None
    litellm_timeout_seconds: float = 60.0
    litellm_max_retries: int = 2
    litellm_temperature: float = 0.1
    llm_max_concurrency: int = Field(default=4, ge=1, le=64)

    # Embeddings
    embedding_provider: Literal["local", "hash", "litellm", "none"] = "local"
    embedding_model: str | None = None
    embedding_dimensions: int | None = None
    embedding_timeout_seconds: float = 30.0
    query_embedding_cache_size: int = 1024
    query_embedding_cache_ttl_seconds: float = 3600.0
    # Vectors of recently stored memory texts, reused when a text is stored again (0: off).
    memory_vector_cache_size: int = Field(default=4096, ge=0)

    # In-memory retrieval indexes (services/memory_index): per-process size cap and lifetime.
    memory_index_max_mb: int = 512
    memory_index_ttl_seconds: float = 900.0

    # Context assembly
    default_max_context_tokens: int = 4000

    # Operator features
    enable_snapshots: bool = False
    mcp_allow_delete: bool = False  # offer the delete_subject tool on /mcp

    # Schema safety
    strict_schema: bool = False
    # ./start.sh migrates an external database only when this is set (the embedded one always).
    migrate_on_start: bool = False

    # Migrations (ops/migration_env.py, run by alembic/env.py)
    migration_lock_timeout_ms: int = 5_000
    migration_statement_timeout_ms: int = 600_000
    migration_lock_retries: int = 5

    # Webhooks
    webhook_url: str | None = None
    # Delivery (worker/dispatcher.py): HMAC secret, per-request timeout, retries, polling, lease.
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 5
    webhook_backoff_base_seconds: float = 30.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_poll_interval_seconds: float = 2.0
    webhook_claim_lease_seconds: float = 120.0
    webhook_batch_size: int = 20

    # Durable jobs
    run_worker_in_process: bool = True
    job_poll_interval_seconds: float = 1.0
    job_heartbeat_seconds: float = 15.0
    job_orphan_after_seconds: float = 1800.0
    job_max_attempts: int = 3
    # Subjects whose queued compile jobs one worker claims and embeds together (>= 1).
    worker_batch_subjects: int = Field(default=16, ge=1, le=256)
    job_backoff_base_seconds: float = 5.0
    job_backoff_max_seconds: float = 600.0

    # Data integrity: what /admin/cleanup may delete, where webhooks may be delivered.
    # Cleanup only takes prefixes that start with this one (ephemeral subjects).
    cleanup_subject_prefix: str = Field(default="live_", min_length=1, max_length=256)
    # Webhook destinations: link-local/metadata addresses are always refused; private
    # ranges unless allowed; loopback (a receiver on the same host) unless disallowed.
    webhook_allow_private: bool = False
    webhook_allow_loopback: bool = True

    _no_blank_key = field_validator("api_key")(blank_key_is_none)

    @property
    def bind_host(self) -> str:
        """Where ``statewave serve`` and ``./start.sh`` listen: all interfaces only when an
        API key protects the server (without one it answers loopback clients only anyway)."""
        if self.host:
            return self.host
        return "0.0.0.0" if self.api_key is not None else "127.0.0.1"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (environment and ``.env``)."""
    return Settings()
