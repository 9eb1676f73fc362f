"""The operator console: server-rendered HTML pages under ``/console``.

Kept import-light on purpose: ``api/security.py`` imports :mod:`.auth` for the session
cookie, so the router lives in :mod:`.routes` (``from statewave_server.console.routes
import router``).
"""
