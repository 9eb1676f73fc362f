"""Harness shared by ``tests/`` and ``bench/``: real parts started for a test or a benchmark.

An embedded PostgreSQL and its tools (``postgres``), a uvicorn server of this checkout
(``server``), worker processes (``worker``), PgBouncer (``pgbouncer``), a webhook receiver
(``receiver``), an OpenAI-compatible model server (``openai_server``), and the
reliability scenarios (``harness``, ``freshness``). Never shipped in the wheel and never
imported by ``statewave_server``; it imports nothing from ``tests/`` or ``bench/``.
"""
