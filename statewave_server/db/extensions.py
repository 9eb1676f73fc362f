"""Can this database's role get pgvector? Shared by preflight, migration 0001 and restore.

pgvector is not a trusted extension: unless it is installed already, only a superuser (or,
if an administrator marked it trusted, a role with CREATE on the database) can create it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

PGVECTOR_SQL = text(
    "SELECT e.default_version, e.installed_version, current_database() AS database, "
    "current_user AS role, "
    "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, "
    "coalesce((SELECT bool_or(trusted) FROM pg_available_extension_versions "
    "WHERE name = 'vector'), false) AS trusted, "
    "has_database_privilege(current_database(), 'CREATE') AS can_create "
    "FROM pg_available_extensions e WHERE e.name = 'vector'"
)
CREATE_STATEMENT = "CREATE EXTENSION vector;"


@dataclass(frozen=True)
class PgvectorState:
    """One row of :data:`PGVECTOR_SQL` (absent when the server has no pgvector at all)."""

    default_version: str
    installed_version: str | None
    database: str
    role: str
    superuser: bool
    trusted: bool
    can_create: bool

    @property
    def creatable(self) -> bool:
        return bool(self.installed_version) or self.superuser or (self.trusted and self.can_create)

    def not_creatable_message(self) -> str:
        """What a superuser must run, in which database, before migrating or restoring."""
        return (
            f"pgvector {self.default_version} is available but role {self.role!r} cannot "
            "create it (not a superuser, and the extension is not trusted): ask a superuser "
            f"to run `{CREATE_STATEMENT}` in database {self.database!r} "
            f"(e.g. `psql -d {self.database} -c '{CREATE_STATEMENT}'`), then retry"
        )


def pgvector_state(row: object | None) -> PgvectorState | None:
    """Build the state from a result row of :data:`PGVECTOR_SQL`."""
    if row is None:
        return None
    mapping = dict(row._mapping)  # type: ignore[attr-defined]
    return PgvectorState(**mapping)
