"""What ``alembic/env.py`` runs: how Statewave applies its migrations.

Reads the same settings as the server (``STATEWAVE_DATABASE_URL`` / ``DATABASE_URL`` /
``.env``); the embedded PostgreSQL only when asked (``-x embedded=1``), never by default.
Online runs are serialised by a session advisory lock, bounded by
``lock_timeout``/``statement_timeout``, retried on lock timeouts, run one transaction per
revision and audited (one row per applied or reverted revision). Offline runs (``--sql``)
only print SQL; they read the current revision to print just what is pending.

It lives in the package (``env.py`` only calls :func:`run`) so mypy checks it and the
installed wheel's copy of the scripts runs the same code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from logging.config import fileConfig
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from alembic.util import CommandError
from sqlalchemy import Connection, pool, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from statewave_server import __version__
from statewave_server.db.engine import resolve_database_url, session_url
from statewave_server.db.migration_audit import (
    AUDIT_TABLE,
    CREATE_AUDIT_TABLE,
    MIGRATION_LOCK_KEY,
    OUTSIDE_CHAIN_TABLES,
    file_checksum,
)
from statewave_server.db.models import Base
from statewave_server.db.urls import describe as describe_url
from statewave_server.db.urls import to_async_url
from statewave_server.db.webhook_attempts import CREATE_ATTEMPTS_INDEX, CREATE_ATTEMPTS_TABLE
from statewave_server.ops.adoption import AdoptionReport, adopt, embedding_note
from statewave_server.ops.schema_shape import SchemaFamily, detect_schema_family_sync
from statewave_server.settings import Settings, get_settings

LOCK_NOT_AVAILABLE = "55P03"
MAX_BACKOFF_SECONDS = 10.0
NOT_ADOPTING = (
    "This database was written by the original Statewave (its revision {revision}); only "
    "`alembic upgrade head` adopts it into this server's schema (every row is kept)."
)

log = logging.getLogger("alembic.env")


def run(context: EnvironmentContext) -> None:
    """The whole of ``env.py``: set up logging, then migrate offline or online."""
    _configure_logging(context)
    environment = _Environment(context, get_settings())
    if context.is_offline_mode():
        environment.offline()
    else:
        environment.online()


def _configure_logging(context: EnvironmentContext) -> None:
    config = context.config
    if config.config_file_name is not None and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    elif config.config_file_name is None:  # an installed wheel: alembic.ini's logging, in code
        logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
        logging.getLogger("alembic").setLevel(logging.INFO)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep the tables created here, outside the revision chain, out of autogenerate."""
    return not (type_ == "table" and name in OUTSIDE_CHAIN_TABLES)


def _common_options() -> dict[str, Any]:
    return {
        "target_metadata": Base.metadata,
        "include_object": include_object,
        "compare_type": True,
        "compare_server_default": True,
        "transaction_per_migration": True,
    }


class _Audit:
    """Writes one audit row per revision, inside that revision's transaction."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def restart(self) -> None:
        self._started = time.monotonic()

    def __call__(
        self,
        ctx: MigrationContext,
        step: MigrationInfo,
        heads: Collection[Any],
        run_args: Mapping[str, Any],
    ) -> None:
        """Alembic's ``on_version_apply`` hook (called with these keyword arguments)."""
        if step.is_stamp:
            return
        duration_ms = int((time.monotonic() - self._started) * 1000)
        script = step.up_revision
        assert isinstance(script, Script) and ctx.connection is not None
        ctx.connection.execute(
            text(
                f"INSERT INTO {AUDIT_TABLE} "
                "(revision, direction, app_version, duration_ms, checksum) "
                "VALUES (:revision, :direction, :app_version, :duration_ms, :checksum)"
            ),
            {
                "revision": step.up_revision_id,
                "direction": "upgrade" if step.is_upgrade else "downgrade",
                "app_version": __version__,
                "duration_ms": duration_ms,
                "checksum": file_checksum(script.path),
            },
        )
        self.restart()


class _Environment:
    """One Alembic run: the environment context and the settings it was started with."""

    def __init__(self, context: EnvironmentContext, settings: Settings) -> None:
        self.context = context
        self.config = context.config
        self.settings = settings

    # --- offline (--sql) -----------------------------------------------------------------

    def offline(self) -> None:
        """Print the SQL; only the dialect is needed, so no database is started or changed.

        ``alembic upgrade head --sql`` (the runbook's dry run) starts from the configured
        database's current revision, read-only, so it prints just the pending revisions;
        with no database it says, in the output, that it starts from an empty one.
        """
        context, settings = self.context, self.settings
        starting, note = self._dry_run_start()
        context.configure(
            dialect_name="postgresql",
            literal_binds=True,
            starting_rev=starting,
            **_common_options(),
        )
        if note:
            log.warning(note)
            context.get_context().impl.static_output(f"-- {note}\n")
        context.execute(f"SET lock_timeout = {int(settings.migration_lock_timeout_ms)}")
        context.execute(f"SET statement_timeout = {int(settings.migration_statement_timeout_ms)}")
        with context.begin_transaction():
            context.run_migrations()

    def _dry_run_start(self) -> tuple[str | None, str | None]:
        """The revision a ``--sql`` run starts from (None = empty) and a note saying why."""
        if self.context.get_starting_revision_argument() is not None:  # explicit ``from:to``
            return None, None
        url = self._configured_url()
        if url is None:
            return None, (
                "No database configured: this SQL starts from an empty database (every "
                "revision). Set STATEWAVE_DATABASE_URL to print only what it still needs."
            )
        try:
            current = asyncio.run(_read_current(url))
        except (OSError, DBAPIError) as exc:
            return None, (
                f"Database {describe_url(url)} unreachable ({type(exc).__name__}): this SQL "
                "starts from an empty database (every revision)"
            )
        if current is None:
            return None, f"Database {describe_url(url)} is empty: this SQL applies every revision"
        if current not in {script.revision for script in self.context.script.walk_revisions()}:
            raise CommandError(  # e.g. the original's '0008', which would match ours by prefix
                f"Database revision {current!r} is not one of this release's revisions: run "
                "`python scripts/preflight.py` to see what it is"
            )
        return current, (
            f"Database {describe_url(url)} is at {current}: only later revisions follow"
        )

    def _embedded_requested(self) -> bool:
        """``alembic -x embedded=1 …`` (or the CLI's ``--embedded``): the embedded database."""
        flag = self.context.get_x_argument(as_dictionary=True).get("embedded", "")
        return bool(self.config.attributes.get("embedded")) or flag.lower() in {
            "1",
            "true",
            "yes",
        }

    def _configured_url(self) -> str | None:
        """The URL given by the caller or the settings; the embedded one only when asked."""
        settings = self.settings
        given = (
            self.config.attributes.get("database_url")
            or settings.database_url
            or settings.direct_database_url
        )
        if given:
            return to_async_url(str(given))
        if self._embedded_requested():
            return resolve_database_url(settings)
        return None

    # --- online --------------------------------------------------------------------------

    def online(self) -> None:
        connection = self.config.attributes.get("connection")
        if connection is not None:  # programmatic use with a caller-owned sync connection
            self._migrate(connection)
            return
        configured = self._configured_url()
        if configured is None:
            raise CommandError(
                "No database configured: set STATEWAVE_DATABASE_URL (or DATABASE_URL, or a "
                ".env file in the working directory), or run `alembic -x embedded=1 …` to "
                "migrate the embedded database"
            )
        # The advisory lock and SETs need one session: never through a transaction pooler.
        given = self.config.attributes.get("database_url")
        url = configured if given else session_url(self.settings, configured)
        if url is None:
            raise SystemExit("STATEWAVE_DATABASE_POOLED is set: set STATEWAVE_DIRECT_DATABASE_URL")
        log.info("Database: %s", describe_url(url))
        try:
            asyncio.run(self._migrate_async(url))
        except OSError as exc:  # refused, no such socket, DNS: one line, not a traceback
            raise CommandError(f"Database {describe_url(url)} unreachable: {exc}") from None

    async def _migrate_async(self, url: str) -> None:
        engine = create_async_engine(
            url,
            poolclass=pool.NullPool,
            connect_args={"server_settings": {"application_name": "statewave-migrate"}},
        )
        try:
            async with engine.connect() as connection:
                await connection.run_sync(self._migrate)
        finally:
            await engine.dispose()

    def _migrate(self, connection: Connection) -> None:
        _acquire_migration_lock(connection)
        try:
            _prepare_session(connection, self.settings)
            self._run_with_retries(connection)
        finally:
            _release_migration_lock(connection)

    def _run_with_retries(self, connection: Connection) -> None:
        """Run the migrations, retrying with backoff when a revision hits ``lock_timeout``."""
        settings = self.settings
        retries = max(0, int(settings.migration_lock_retries))
        audit = _Audit()
        for attempt in range(retries + 1):
            try:
                self._run_once(connection, audit)
                return
            except DBAPIError as exc:
                connection.rollback()
                if not _is_lock_timeout(exc):
                    raise
                if attempt == retries:
                    raise CommandError(
                        f"Gave up waiting for a table lock: lock_timeout "
                        f"({settings.migration_lock_timeout_ms} ms) expired {retries + 1} "
                        "times. Another session holds a conflicting lock (see pg_locks and "
                        "pg_stat_activity); stop it or raise "
                        "STATEWAVE_MIGRATION_LOCK_TIMEOUT_MS / STATEWAVE_MIGRATION_LOCK_RETRIES, "
                        f"then re-run `alembic upgrade head`. Last error: {exc.orig}"
                    ) from exc
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)
                log.warning(
                    "Lock timeout while migrating (attempt %d of %d); retrying in %.1f s",
                    attempt + 1,
                    retries + 1,
                    delay,
                )
                time.sleep(delay)

    def _run_once(self, connection: Connection, audit: _Audit) -> None:
        context = self.context
        context.configure(connection=connection, on_version_apply=audit, **_common_options())
        if self._adopt_original(connection, audit):
            return
        if self._relative_upgrade_past_head(connection):
            return
        audit.restart()
        with context.begin_transaction():
            context.run_migrations()

    def _adopt_original(self, connection: Connection, audit: _Audit) -> bool:
        """On the original's schema: adopt it in one transaction (see ops/adoption.py)."""
        context = self.context
        family = detect_schema_family_sync(connection)
        if family is not SchemaFamily.ORIGINAL_0_6_1:
            connection.rollback()
            return False
        if context.get_context().opts.get("destination_rev") not in ("head", "heads"):
            revision = ", ".join(context.get_context().get_current_heads()) or "unknown"
            raise CommandError(NOT_ADOPTING.format(revision=revision))
        # Configured inside the open transaction, Alembic commits nothing itself: the move,
        # our whole chain and the copy commit together or not at all.
        context.configure(connection=connection, on_version_apply=audit, **_common_options())
        audit.restart()
        report = adopt(connection, build_schema=context.run_migrations)
        connection.commit()
        _log_adoption(report)
        return True

    def _relative_upgrade_past_head(self, connection: Connection) -> bool:
        """``alembic upgrade +N`` on a database already at head: report it, do not fail."""
        context = self.context
        target = context.get_context().opts.get("destination_rev")
        if not (isinstance(target, str) and target.startswith("+")):
            return False
        current = set(context.get_context().get_current_heads())
        connection.rollback()
        if current != set(context.script.get_heads()):
            return False
        log.info("Already at head (%s): nothing to upgrade", ", ".join(sorted(current)))
        return True


async def _read_current(url: str) -> str | None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if not found:
                return None
            value = await conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
            return None if value is None else str(value)
    finally:
        await engine.dispose()


def _acquire_migration_lock(connection: Connection) -> None:
    """Block until no other migration runs, then leave no transaction open."""
    key = {"key": MIGRATION_LOCK_KEY}
    connection.execute(text("SET lock_timeout = 0"))  # wait for another run, however long
    if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
        log.info("Another migration holds the migration lock; waiting for it to finish")
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
    connection.commit()


def _release_migration_lock(connection: Connection) -> None:
    try:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
    except DBAPIError as exc:  # closing the connection releases the lock anyway
        log.warning("Could not release the migration lock explicitly: %s", exc)


def _prepare_session(connection: Connection, settings: Settings) -> None:
    lock_ms = int(settings.migration_lock_timeout_ms)
    statement_ms = int(settings.migration_statement_timeout_ms)
    connection.execute(text(f"SET lock_timeout = {lock_ms}"))
    connection.execute(text(f"SET statement_timeout = {statement_ms}"))
    for statement in (CREATE_AUDIT_TABLE, CREATE_ATTEMPTS_TABLE, CREATE_ATTEMPTS_INDEX):
        connection.execute(text(statement))
    connection.commit()


def _is_lock_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            if getattr(candidate, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return True
            if getattr(candidate, "pgcode", None) == LOCK_NOT_AVAILABLE:
                return True
        seen = seen.__cause__
    return False


def _log_adoption(report: AdoptionReport) -> None:
    copied = ", ".join(f"{table} {count}" for table, count in report.copied.items())
    log.info("Adopted the original Statewave database, rows copied: %s", copied)
    if report.merged_resolutions:
        log.info(
            "%d older duplicate resolution row(s) merged into the latest one of their session",
            report.merged_resolutions,
        )
    note = embedding_note(report.memories_awaiting_embedding)
    if note is not None:
        log.warning("%s", note)
