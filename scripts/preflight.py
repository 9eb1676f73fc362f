"""Migration preflight (the runbook's ``python scripts/preflight.py``); exit 0 go, 1 no-go."""

from statewave_server.ops.preflight import main

raise SystemExit(main())
