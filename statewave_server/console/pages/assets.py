"""The console's static files: its stylesheet and the site icon, public and cacheable."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from statewave_server.console.auth import CONSOLE_PREFIX

router = APIRouter()

#: Static files change only with a release; an hour keeps a redeploy visible soon.
_CACHE = {"Cache-Control": "public, max-age=3600"}


@cache
def _static(name: str) -> bytes:
    return resources.files("statewave_server.console").joinpath(f"static/{name}").read_bytes()


@router.get(f"{CONSOLE_PREFIX}/static/console.css")
async def stylesheet() -> Response:
    return Response(_static("console.css"), media_type="text/css", headers=_CACHE)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask every site for it; served without a key (``api/security.py``) so a tab
    shows the icon instead of logging a 401."""
    return Response(_static("favicon.ico"), media_type="image/vnd.microsoft.icon", headers=_CACHE)
