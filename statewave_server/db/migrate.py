"""Run Alembic from Python (for ``statewave serve`` on the embedded database)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"


def alembic_config() -> Config:
    """The repository's ``alembic.ini`` with paths made absolute (any working directory)."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    return config


def upgrade_to_head() -> None:
    """``alembic upgrade head`` with the same lock, timeouts and audit as the CLI."""
    command.upgrade(alembic_config(), "head")
