"""Rows 1 and 41 of the runbook walk: preflight without an activated venv, and migrations
and preflight from an installed wheel (no checkout)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import clean_env

SYSTEM_PYTHON = Path("/usr/bin/python3")
WHEEL_SOURCES = ["pyproject.toml", "setup.py", "README.md", "statewave_server", "alembic"]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel and installed (no deps: they come from this venv) into
    a directory of its own, outside any checkout."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    for name in WHEEL_SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(base), "."],
                 source, clean_env())  # fmt: skip
    assert built.returncode == 0, built.stderr
    wheel = next(base.glob("statewave_server-*.whl"))
    site = base / "site"
    done = _run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], base, clean_env()
    )
    assert done.returncode == 0, done.stderr
    return site


def test_row_41_wheel_carries_the_migrations(installed: Path) -> None:
    packaged = installed / "statewave_server" / "migrations"
    assert (packaged / "env.py").is_file() and (packaged / "schema_helpers.py").is_file()
    assert len(list((packaged / "versions").glob("0*.py"))) == 12


def test_row_41_migrate_and_preflight_from_an_installed_wheel(
    installed: Path, empty_db_url: str, tmp_path: Path
) -> None:
    env = clean_env(PYTHONPATH=str(installed), STATEWAVE_DATABASE_URL=empty_db_url)
    where = _run([sys.executable, "-c", "import statewave_server as s; print(s.__file__)"],
                 tmp_path, env)  # fmt: skip
    assert where.stdout.startswith(str(installed)), where.stdout
    upgrade = _run([sys.executable, "-m", "statewave_server", "migrate", "upgrade", "head"],
                   tmp_path, env)  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Running upgrade 0011_add_resolutions_table -> 0012_add_health_cache" in upgrade.stderr
    preflight = _run([sys.executable, "-m", "statewave_server", "preflight", "--json"],
                     tmp_path, env)  # fmt: skip
    assert preflight.returncode == 0, preflight.stdout + preflight.stderr
    report = json.loads(preflight.stdout)
    assert report["summary"] == "Schema is up to date" and report["go"] is True


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs a system python3 without deps")
def test_row_01_preflight_without_the_venv_activated_uses_dot_venv(db_url: str) -> None:
    env = clean_env(STATEWAVE_DATABASE_URL=db_url, PYTHONPATH=str(REPO_ROOT))
    env["PATH"] = "/usr/bin:/bin"
    env.pop("VIRTUAL_ENV", None)
    done = _run([str(SYSTEM_PYTHON), "scripts/preflight.py"], REPO_ROOT, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✅ Schema is up to date. No migration needed." in done.stdout


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs a system python3 without deps")
def test_row_01_without_any_venv_it_says_how_to_activate(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "preflight.py", tmp_path / "scripts" / "preflight.py")
    env = clean_env()
    env["PATH"] = "/usr/bin:/bin"
    env.pop("PYTHONPATH", None)
    done = _run([str(SYSTEM_PYTHON), "scripts/preflight.py"], tmp_path, env)
    assert done.returncode == 1
    assert "source .venv/bin/activate" in done.stderr and "Traceback" not in done.stderr
