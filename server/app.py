"""The runbook's ``uvicorn server.app:app`` entry point (a shim over the real package)."""

from statewave_server.app import app as app
