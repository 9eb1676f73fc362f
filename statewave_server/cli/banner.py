"""The first screen of ``statewave serve`` on a terminal: where to go, where the data is.

Logs stay JSON (for machines); a person who just typed ``make run`` gets five plain lines
on stderr. Not printed when stderr is not a terminal (services, pipes, tests of the logs).
"""

from __future__ import annotations

import sys
from typing import TextIO

from statewave_server import __version__
from statewave_server.db.urls import describe
from statewave_server.settings import Settings

_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def banner(settings: Settings, *, host: str, port: int, database_url: str) -> str:
    """The lines shown before the server starts."""
    shown = "127.0.0.1" if host in _ANY_ADDRESS else host
    base = f"http://{shown}:{port}"
    if settings.database_url is None:
        database = f"embedded PostgreSQL, data in {settings.data_dir / 'pgdata'}"
    else:
        database = describe(database_url)
    return "\n".join(
        [
            f"Statewave {__version__} is starting (listening on {host}:{port})",
            f"  API:      {base}   (docs: {base}/docs)",
            f"  Console:  {base}/console",
            f"  Database: {database}",
            "  Stop:     press Ctrl+C",
            "",
        ]
    )


def print_banner(
    settings: Settings, *, host: str, port: int, database_url: str, stream: TextIO | None = None
) -> None:
    """Print :func:`banner` to ``stream`` (stderr) when it is a terminal."""
    out = stream or sys.stderr
    if out.isatty():
        out.write(banner(settings, host=host, port=port, database_url=database_url))
        out.flush()
