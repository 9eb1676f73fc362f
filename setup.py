"""Build hook: the wheel carries the Alembic scripts as ``statewave_server/migrations``.

A checkout runs them from ``alembic/`` (``alembic.ini``); an installed wheel has no
checkout, so ``statewave migrate`` and ``statewave preflight`` find them in the package.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SCRIPTS = ROOT / "alembic"


class BuildWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "statewave_server" / "migrations"
        files = [*SCRIPTS.glob("*.py"), SCRIPTS / "script.py.mako", *SCRIPTS.glob("versions/*.py")]
        for source in files:
            destination = target / source.relative_to(SCRIPTS)
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(source), str(destination))


setup(cmdclass={"build_py": BuildWithMigrations})
