"""The operator surface: dashboards, explorer, deletion, backup/restore, snapshots, packs.

Plain async services over an ``async_sessionmaker``: each call owns its transaction and
raises domain errors; the HTTP routers (``api/admin``), the CLI (``cli/``) and a
server-rendered console can all call them.
"""
