"""Migration preflight (the runbook's ``python scripts/preflight.py``); exit 0 go, 1 no-go.

Run with a Python that lacks Statewave (no virtualenv activated), it re-runs itself with the
project's ``.venv``, or says how to get one.
"""

import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parents[1] / ".venv"
try:
    from statewave_server.ops.preflight import main
except ModuleNotFoundError:
    python = VENV / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(python, [str(python), *sys.argv])
    sys.exit(
        "preflight: Statewave is not installed for this Python. Run `make install`, then "
        "`source .venv/bin/activate` (or run `.venv/bin/python scripts/preflight.py`)."
    )
raise SystemExit(main())
