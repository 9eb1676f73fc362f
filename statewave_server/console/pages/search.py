"""The top bar's search: one match opens its page, several are listed, none says so."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.api.deps import DbDep
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import DATA_PAGE, HtmlErrorRoute
from statewave_server.console.urls import subject_url
from statewave_server.console.web import redirect, render
from statewave_server.db.models import Job, WebhookEvent
from statewave_server.services.admin import search as search_service
from statewave_server.services.admin.search import SearchHits

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute, dependencies=DATA_PAGE)


def _page_of(hits: SearchHits) -> str | None:
    """The page of the one match, if there is exactly one."""
    match = hits.only()
    if match is None:
        return None
    if isinstance(match, Job):
        return f"{CONSOLE_PREFIX}/jobs/{match.id}"
    if isinstance(match, WebhookEvent):
        return f"{CONSOLE_PREFIX}/webhooks/{match.id}"
    return subject_url(tenant_id=match.tenant_id, subject_id=match.subject_id)


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request, db: DbDep, q: str = "") -> Response:
    """``q`` is never refused: any text (wildcards, any length) is searched or found to
    name nothing."""
    hits = await search_service.find(db, q)
    target = _page_of(hits)
    if target is not None:
        return redirect(target)
    return render(request, "search.html", title="Search", q=q, hits=hits)
