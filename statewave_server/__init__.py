"""Statewave server: a self-hosted memory runtime for AI agents."""

__version__ = "0.6.1"
