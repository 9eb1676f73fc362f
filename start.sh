#!/usr/bin/env bash
# Start Statewave as the runbook describes: wait for the database (with backoff), then exec
# uvicorn on port 8100. An external database is migrated here only with
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
# Bind address: STATEWAVE_HOST, else 0.0.0.0 with an API key and 127.0.0.1 without (the app
# answers only loopback clients without a key whatever the bind). uvicorn's own proxy
# headers are off: only STATEWAVE_TRUSTED_PROXIES may set the client address and scheme;
# request headers must arrive within STATEWAVE_HEADER_TIMEOUT_SECONDS.
host="$(python -c 'from statewave_server.settings import get_settings; print(get_settings().bind_host)')"
exec uvicorn server.app:app --host "$host" --port "${STATEWAVE_PORT:-8100}" \
  --no-proxy-headers --http statewave_server.http_protocol:HeaderTimeoutProtocol
