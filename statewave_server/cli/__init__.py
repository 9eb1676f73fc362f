"""The ``statewave`` command line (also ``python -m statewave_server``): every module that
parses arguments or prints lives here; services and workers return data."""

from statewave_server.cli.main import main

__all__ = ["main"]
