"""End-to-end tests of the official ``statewave`` SDK against a live server process."""
