"""The ``/admin/*`` routers, combined: ``app.include_router(admin.router)``."""

from __future__ import annotations

from fastapi import APIRouter

from statewave_server.api.admin import (
    backup,
    dashboard,
    memory,
    memory_edits,
    snapshots,
    subjects,
    webhooks,
)

router = APIRouter()
for _module in (webhooks, dashboard, backup, snapshots, memory, memory_edits, subjects):
    router.include_router(_module.router)

__all__ = ["router"]
