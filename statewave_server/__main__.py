"""``python -m statewave_server`` runs the CLI."""

from statewave_server.cli import main

main()
