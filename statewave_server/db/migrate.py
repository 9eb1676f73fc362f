"""Run Alembic from Python: ``statewave migrate``, ``statewave serve`` (embedded database).

Works from a checkout (the repository's ``alembic.ini`` and ``alembic/``) and from an
installed wheel, which carries the same scripts as ``statewave_server/migrations``.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
ALEMBIC_INI = REPO_ROOT / "alembic.ini"


def scripts_location() -> Path:
    """The checkout's ``alembic/`` when running from one, else the packaged copy."""
    checkout = REPO_ROOT / "alembic"
    if ALEMBIC_INI.is_file() and (checkout / "env.py").is_file():
        return checkout
    return PACKAGE_DIR / "migrations"


def alembic_config(database_url: str | None = None, *, embedded: bool = False) -> Config:
    """Alembic's config with absolute paths (any working directory), for ``database_url``
    (else the settings' URL); ``embedded`` allows the embedded database when none is set."""
    location = scripts_location()
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.is_file() else Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("path_separator", "os")
    config.set_main_option("prepend_sys_path", str(location))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    config.attributes["embedded"] = embedded
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    """``alembic upgrade head`` with the CLI's lock, timeouts and audit, on ``database_url``
    (else the configured database, through its direct URL behind a pooler)."""
    command.upgrade(alembic_config(database_url), "head")
