"""The operator console: server-rendered HTML pages under ``/console``.

Kept import-light on purpose: the app factory imports :mod:`.gate` (the login gate, with
:mod:`.auth` for the session cookie) for its middleware stack, so the router lives in
:mod:`.routes` (``from statewave_server.console.routes import router``).
"""
