#!/usr/bin/env bash
# Start Statewave as the runbook describes: wait for the database (with backoff), then exec
# uvicorn on 0.0.0.0:8100. An external database is migrated here only with
# STATEWAVE_MIGRATE_ON_START=1 (so a restart never undoes an `alembic downgrade`); with no
# STATEWAVE_DATABASE_URL (or DATABASE_URL) the embedded PostgreSQL in the user's data
# directory is used and kept at head.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
python -m statewave_server db wait
python -m statewave_server db migrate-on-start
exec uvicorn server.app:app --host "${STATEWAVE_HOST:-0.0.0.0}" --port "${STATEWAVE_PORT:-8100}"
