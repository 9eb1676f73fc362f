"""The real app for the console tests, with the console router included until
``api/app.py`` registers it itself (``uvicorn tests.console.console_app:app``)."""

from __future__ import annotations

from statewave_server.api.app import create_app
from statewave_server.console.routes import router as console_router

app = create_app()
if "/console" not in {getattr(route, "path", "") for route in app.routes}:
    app.include_router(console_router)
