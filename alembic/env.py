"""Alembic environment for Statewave: a thin caller of ``statewave_server/ops/migration_env.py``
(settings, the embedded database only when asked, the migration lock, lock-timeout retries,
one transaction and one audit row per revision, and the ``--sql`` dry run)."""

from alembic import context
from statewave_server.ops.migration_env import run

run(context)  # alembic.context proxies the running EnvironmentContext
