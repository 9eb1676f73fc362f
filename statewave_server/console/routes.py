"""``/console``: the operator console, plain server-rendered HTML over the admin services.

Every page reads through the same service calls as the ``/admin`` API; the actions (job
retry, rescue and purge, webhook redrive and purge, memory retire and correct) are form
POSTs carrying a CSRF token that redirect back (POST/redirect/GET). Authentication is the
API key (``api/security.py``), or on these paths the session cookie issued by the login
form and checked by the console's gate (``console/gate.py``). No JavaScript and no
external assets: one local stylesheet.

This module only assembles the page routers (``console/pages/``); what they share is in
``console/web.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import HtmlErrorRoute
from statewave_server.console.pages import (
    assets,
    login,
    operations,
    records,
    search,
    subjects,
    webhooks,
)
from statewave_server.console.web import error_page

router = APIRouter(include_in_schema=False)
_fallback = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute)


@_fallback.api_route(
    "/{unknown:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    response_class=HTMLResponse,
)
async def not_found(request: Request, unknown: str) -> Response:
    """Any other console path: an HTML 404 with a way back."""
    return error_page(request, 404, "Not found", f"No console page at /console/{unknown}.")


# Records before subjects: "/subjects/{id:path}" would otherwise swallow their paths; the
# catch-all 404 last.
for page in (assets, login, operations, records, search, subjects, webhooks):
    router.include_router(page.router)
router.include_router(_fallback)
