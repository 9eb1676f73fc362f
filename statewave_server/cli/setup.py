"""Process set-up shared by every ``statewave`` command: stdout is the command's output.

``--json`` output and ``statewave export > file`` are parsed by scripts, so every log
line (structlog's, the embedded PostgreSQL's start-up, library warnings) goes to stderr.
"""

from __future__ import annotations

import warnings

from statewave_server.logging import configure_logging
from statewave_server.settings import Settings


def send_logs_to_stderr(settings: Settings) -> None:
    """Route structlog and stdlib logging to stderr and mute the runtime-dir warning.

    ``platformdirs`` warns when ``XDG_RUNTIME_DIR`` is unset (cron, Docker, systemd);
    the embedded database falls back to a private directory, so the warning is noise.
    """
    from platformdirs import RuntimeDirWarning

    warnings.filterwarnings("ignore", category=RuntimeDirWarning)
    configure_logging(settings)
