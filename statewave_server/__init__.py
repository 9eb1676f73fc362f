"""Statewave server: a self-hosted memory runtime for AI agents.

Layered: faces (``api/``, ``console/``, ``mcp/``, ``cli/``) over units of work
(``services/``) over runbook machinery (``ops/``) over the database (``db/``), composed by
``app.py``. What each room may import is written in ``ARCHITECTURE.md`` and enforced by
``tests/test_architecture.py``.
"""

__version__ = "0.6.1"
