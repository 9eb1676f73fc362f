#!/usr/bin/env bash
# Start Statewave as the runbook describes: wait for the database (with backoff), apply
# migrations, then exec uvicorn on 0.0.0.0:8100. With no STATEWAVE_DATABASE_URL (or
# DATABASE_URL) set, the embedded PostgreSQL in the user's data directory is used.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
python -m statewave_server db wait
alembic upgrade head
exec uvicorn server.app:app --host "${STATEWAVE_HOST:-0.0.0.0}" --port "${STATEWAVE_PORT:-8100}"
