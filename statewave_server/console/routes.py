"""``/console``: the operator console, plain server-rendered HTML over the admin services.

Every page reads through the same service calls as the ``/admin`` API; the three actions
(job rescue and purge, webhook redrive and purge) are form POSTs carrying a CSRF token
that redirect back to the page they came from (POST/redirect/GET). Authentication is the
API key (``api/security.py``), or on these paths the session cookie issued by the login
form here and checked by the console's gate (``console/gate.py``). No JavaScript and no
external assets: one local stylesheet, served below.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import structlog
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from statewave_server import __version__
from statewave_server.api.deps import (
    DatabaseDep,
    EventsDep,
    RuntimeDep,
    SessionsDep,
    SettingsDep,
)
from statewave_server.console import auth
from statewave_server.db import episodes as episode_repo
from statewave_server.db import jobs as job_repo
from statewave_server.db.admin_queries.explorer import ExplorerFilter, SortKey
from statewave_server.db.models import Episode, Job, Resolution
from statewave_server.errors import StatewaveError
from statewave_server.services import webhooks as webhook_service
from statewave_server.services.admin import dashboard as dashboard_service
from statewave_server.services.admin import knowledge as knowledge_service
from statewave_server.services.admin import memory_edits as memory_edit_service
from statewave_server.services.admin import subjects as subject_service
from statewave_server.services.admin.dashboard import JobFilter
from statewave_server.services.compiler.drafts import episode_text
from statewave_server.services.events import EventSink
from statewave_server.services.retrieval import ContextResult, build_context
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.services.support import resolutions as resolution_service
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.console")


class HtmlErrorRoute(APIRoute):
    """Console routes answer bad query strings and HTTP errors with an HTML error page
    (the API's JSON envelope is for programs, not for a browser)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                fields = ", ".join(
                    str(error["loc"][-1]) for error in exc.errors() if error.get("loc")
                )
                message = f"Check these values: {fields}." if fields else "Check the address."
                return error_page(request, 422, "Invalid request", message)
            except HTTPException as exc:
                return error_page(request, exc.status_code, "Request refused", str(exc.detail))

        return handle


router = APIRouter(prefix="/console", include_in_schema=False, route_class=HtmlErrorRoute)

ALL_TENANTS: Final = "*"
PAGE_SIZE: Final = 50
MAX_FORM_BYTES: Final = 16_384
JOB_STATUSES: Final = ("pending", "running", "completed", "dead")
WEBHOOK_STATUSES: Final = ("pending", "delivering", "delivered", "dead_letter")
HEALTH_STATES: Final = ("healthy", "watch", "at_risk")
MEMORY_STATUSES: Final = ("active", "superseded", "deleted")
REASON_MAX: Final = 500
CONTENT_MAX: Final = 10_000
SORT_KEYS: Final[tuple[SortKey, ...]] = (
    "last_activity",
    "subject_id",
    "episode_count",
    "memory_count",
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES: Final = {
    "rescued": "Rescue done: {count} job(s) back to pending, {extra} buried as dead.",
    "jobs_purged": "Purged {count} finished job(s).",
    "retried": "Retried {count} dead job(s): back to pending with fresh attempts.",
    "redriven": "Redrove {count} dead-lettered webhook event(s).",
    "webhooks_purged": "Purged {count} webhook event(s).",
}

Text = Annotated[str, Query(max_length=256)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
TenantChoice = Annotated[str | None, Query(max_length=256)]  # see _tenant_choice
SubjectPath = Annotated[str, Path(min_length=1, max_length=256)]


# --- rendering ------------------------------------------------------------------------------


def _dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None) -> str:
    """ "3 min ago" style age of a past timestamp (exact time goes in the title)."""
    if value is None:
        return "—"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _tenant_label(tenant_id: str) -> str:
    return tenant_id if tenant_id else "(default)"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _q(value: str) -> str:
    """One URL path segment (``/`` encoded too, so subject ids never change the route)."""
    return quote(value, safe="")


def subject_url(tenant_id: str, subject_id: str, suffix: str = "") -> str:
    query = f"?{urlencode({'tenant_id': tenant_id})}" if tenant_id else ""
    return f"/console/subjects/{_q(subject_id)}{suffix}{query}"


def episode_url(tenant_id: str, subject_id: str, episode_id: uuid.UUID | str) -> str:
    return subject_url(tenant_id, subject_id, f"/episodes/{episode_id}")


def memory_url(tenant_id: str, subject_id: str, memory_id: uuid.UUID | str) -> str:
    return subject_url(tenant_id, subject_id, f"/memories/{memory_id}")


def session_url(tenant_id: str, subject_id: str, session_id: str) -> str:
    query = urlencode({"tenant_id": tenant_id, "session_id": session_id})
    return f"/console/subjects/{_q(subject_id)}/session?{query}"


def _page_url(path: str, params: Mapping[str, str | int | None], **changes: str | int) -> str:
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v is not None and v != ""}
    return f"{path}?{urlencode(kept)}" if kept else path


def _page_at(
    path: str, params: Mapping[str, str | int | None], key: str, offset: int, anchor: str = ""
) -> str:
    """``path`` with ``params`` and ``key=offset`` (a pager link), then ``#anchor``."""
    url = _page_url(path, params, **{key: offset or ""})
    return f"{url}#{anchor}" if anchor else url


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("statewave_server.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=_dt,
        duration=_duration,
        ago=_ago,
        tenant=_tenant_label,
        pretty_json=_pretty_json,
        episode_text=episode_text,
        short=lambda value: str(value)[:8],
    )
    env.globals.update(
        subject_url=subject_url,
        episode_url=episode_url,
        memory_url=memory_url,
        session_url=session_url,
        page_url=_page_url,
        page_at=_page_at,
        version=__version__,
        ALL_TENANTS=ALL_TENANTS,
    )
    return env


def _api_key(request: Request) -> bytes | None:
    settings: Settings = request.app.state.settings
    secret = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    return secret.encode("utf-8") if secret else None


def _secure(request: Request) -> bool:
    """Cookies are Secure over https, or always when ``STATEWAVE_CONSOLE_SECURE_COOKIE`` says
    so (a TLS proxy that is not a trusted proxy cannot tell the server it is https)."""
    forced: bool | None = request.app.state.settings.console_secure_cookie
    return request.url.scheme == "https" if forced is None else forced


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page with the CSRF token for its forms (and the CSRF cookie when it was missing)."""
    seed = request.cookies.get(auth.CSRF_COOKIE)
    fresh = not seed or len(seed) > 128
    if fresh:
        seed = auth.new_csrf_seed()
    assert seed is not None
    key = _api_key(request)
    notice = _notice(request)
    html = (
        _environment()
        .get_template(template)
        .render(
            csrf_token=auth.csrf_token(seed, key),
            auth_enabled=key is not None,
            notice=notice,
            nav=template.split(".")[0],
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if fresh:
        response.set_cookie(
            auth.CSRF_COOKIE,
            seed,
            path=auth.CONSOLE_PREFIX,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
    return response


def _notice(request: Request) -> str | None:
    template = NOTICES.get(request.query_params.get("notice", ""))
    if template is None:
        return None

    def number(name: str) -> int:
        raw = request.query_params.get(name, "0")
        return int(raw) if raw.isdigit() and len(raw) < 10 else 0

    return template.format(count=number("count"), extra=number("extra"))


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code, title=title, message=message)


def _domain_error(request: Request, exc: StatewaveError) -> HTMLResponse:
    title = exc.code.replace("_", " ").capitalize()
    return error_page(request, exc.status_code, title, exc.message)


async def read_form(request: Request) -> dict[str, str] | HTMLResponse:
    """The urlencoded form, after checking its CSRF token (else an error page)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return error_page(request, 413, "Form too large", "The form body is too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return error_page(request, 400, "Bad form", "The form could not be read.")
    form = {name: values[-1] for name, values in parsed.items()}
    seed = request.cookies.get(auth.CSRF_COOKIE)
    if not auth.csrf_valid(seed, form.get(auth.CSRF_FIELD), _api_key(request)):
        log.warning("console_csrf_rejected", path=request.url.path)
        return error_page(
            request,
            403,
            "CSRF check failed",
            "The form's security token is missing or stale. Reload the page and try again.",
        )
    return form


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _notice_redirect(
    page: str, notice: str, count: int, extra: int | None = None
) -> RedirectResponse:
    """Back to ``/console/{page}`` with a :data:`NOTICES` message (POST/redirect/GET)."""
    query: dict[str, str | int] = {"notice": notice, "count": count}
    if extra is not None:
        query["extra"] = extra
    return _redirect(f"/console/{page}?{urlencode(query)}")


async def _list_page(
    request: Request,
    template: str,
    sessions: SessionsDep,
    *,
    tenant_id: str | None,
    total: int,
    offset: int,
    params: Mapping[str, str | int | None],
    **context: Any,
) -> HTMLResponse:
    """A paged, filterable list page: paging, filter params and the tenant picker."""
    return render(
        request,
        template,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        params=params,
        tenants=await dashboard_service.tenants(sessions),
        selected_tenant=tenant_id if tenant_id is not None else ALL_TENANTS,
        **context,
    )


async def _orphans(sessions: SessionsDep, settings: Settings) -> dict[str, Any]:
    """The orphaned-job count and its threshold, for the rescue form."""
    async with sessions() as session:
        orphaned = await job_repo.count_orphaned_jobs(session, settings.job_orphan_after_seconds)
    return {"orphaned": orphaned, "orphan_minutes": settings.job_orphan_after_seconds / 60}


def _number(raw: str | None, default: float, *, low: float = 0, high: float = 876_000) -> float:
    try:
        value = float(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    if value != value or not low <= value <= high:  # NaN or out of range
        return default
    return value


def _tenant_choice(raw: str | None) -> str | None:
    """``*``/absent = every tenant (None); anything else, '' included, is one tenant."""
    return None if raw is None or raw == ALL_TENANTS else raw


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console"


# --- login ----------------------------------------------------------------------------------


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return Response(
        _stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


@lru_cache(maxsize=1)
def _stylesheet() -> str:
    return resources.files("statewave_server.console").joinpath("static/console.css").read_text()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: Text = "/console") -> Response:
    if _api_key(request) is None:
        return _redirect(_safe_next(next))
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    key = _api_key(request)
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    target = _safe_next(form.get("next"))
    if key is None:
        return _redirect(target)
    if not auth.key_matches(form.get("api_key", ""), key):
        log.warning("console_login_failed", client=request.client.host if request.client else "")
        return render(request, "login.html", 401, next=target, error="Invalid API key.")
    response = _redirect(target)
    response.set_cookie(
        auth.SESSION_COOKIE,
        auth.issue_session(key),
        max_age=auth.SESSION_MAX_AGE_SECONDS,
        path=auth.CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    log.info("console_login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    response = _redirect(auth.LOGIN_PATH)
    response.delete_cookie(auth.SESSION_COOKIE, path=auth.CONSOLE_PREFIX)
    return response


# --- dashboard ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def dashboard(
    request: Request, database: DatabaseDep, settings: SettingsDep, sessions: SessionsDep
) -> Response:
    data = await dashboard_service.dashboard(database, settings)
    tenants = await dashboard_service.tenants(sessions)
    return render(
        request,
        "dashboard.html",
        title="Dashboard",
        data=data,
        tenants=tenants,
        **await _orphans(sessions, settings),
        job_statuses=JOB_STATUSES,
        webhook_statuses=WEBHOOK_STATUSES,
        health_states=HEALTH_STATES,
    )


# --- subjects -------------------------------------------------------------------------------


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(
    request: Request,
    sessions: SessionsDep,
    search: Text = "",
    tenant_id: TenantChoice = None,
    health_state: Text = "",
    open_sessions: Text = "",
    sort_by: Text = "last_activity",
    sort_order: Text = "desc",
    offset: Offset = 0,
) -> Response:
    sort: SortKey = next((k for k in SORT_KEYS if k == sort_by), "last_activity")
    descending = sort_order != "asc"
    filters = ExplorerFilter(
        search=search.strip() or None,
        tenant_id=_tenant_choice(tenant_id),
        health_state=health_state if health_state in HEALTH_STATES else None,
        has_open_sessions={"yes": True, "no": False}.get(open_sessions),
    )
    rows, total = await subject_service.explore(
        sessions, filters, sort_by=sort, descending=descending, limit=PAGE_SIZE, offset=offset
    )
    params: dict[str, str | int | None] = {
        "search": search,
        "tenant_id": tenant_id,
        "health_state": filters.health_state,
        "open_sessions": open_sessions if open_sessions in ("yes", "no") else None,
        "sort_by": sort,
        "sort_order": "desc" if descending else "asc",
    }
    return await _list_page(
        request,
        "subjects.html",
        sessions,
        tenant_id=tenant_id,
        total=total,
        offset=offset,
        params=params,
        title="Subjects",
        rows=rows,
        health_states=HEALTH_STATES,
        sort_keys=SORT_KEYS,
    )


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "episode" | "resolution"
    episode: Episode | None = None
    resolution: Resolution | None = None


def _timeline(episodes: list[Episode], resolutions: list[Resolution]) -> list[TimelineItem]:
    """Episodes (when they occurred) and resolutions (when resolved, else last updated),
    newest first."""
    items = [TimelineItem(e.occurred_at, "episode", episode=e) for e in episodes]
    items += [
        TimelineItem(r.resolved_at or r.updated_at, "resolution", resolution=r) for r in resolutions
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)


@router.get("/subjects/{subject_id:path}/episodes/{episode_id}", response_class=HTMLResponse)
async def episode_page(
    request: Request,
    subject_id: SubjectPath,
    episode_id: str,
    sessions: SessionsDep,
    tenant_id: Text = "",
) -> Response:
    parsed = _uuid(episode_id)
    if parsed is None:
        return error_page(request, 404, "Not found", "Invalid episode id.")
    async with sessions() as session:
        found = await episode_repo.episodes_by_ids(session, tenant_id, subject_id, [parsed])
    if not found:
        return error_page(request, 404, "Not found", f"Episode {episode_id} not found.")
    citing, citing_total = await subject_service.citing_memories(
        sessions, tenant_id, subject_id, parsed, limit=100
    )
    return render(
        request,
        "episode.html",
        title=f"Episode {episode_id[:8]}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        episode=found[0],
        citing=citing,
        citing_total=citing_total,
    )


@router.get("/subjects/{subject_id:path}/memories/{memory_id}", response_class=HTMLResponse)
async def memory_page(
    request: Request,
    subject_id: SubjectPath,
    memory_id: str,
    sessions: SessionsDep,
    tenant_id: Text = "",
) -> Response:
    parsed = _uuid(memory_id)
    if parsed is None:
        return error_page(request, 404, "Not found", "Invalid memory id.")
    try:
        related = await subject_service.related(sessions, tenant_id, subject_id, parsed)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    lineage = await knowledge_service.lineage(sessions, related.memory)
    sources = list(related.memory.source_episode_ids)
    async with sessions() as session:
        loaded = await episode_repo.episodes_by_ids(session, tenant_id, subject_id, sources)
    by_id = {e.id: e for e in loaded}
    return render(
        request,
        "memory.html",
        title=f"Memory {memory_id[:8]}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        related=related,
        lineage=lineage,
        memory=related.memory,
        reasons_max=REASON_MAX,
        sources=[(source, by_id.get(source)) for source in sources],
    )


@router.get("/subjects/{subject_id:path}/session", response_class=HTMLResponse)
async def session_page(
    request: Request,
    subject_id: SubjectPath,
    session_id: Annotated[str, Query(min_length=1, max_length=256)],
    sessions: SessionsDep,
    tenant_id: Text = "",
) -> Response:
    """One support session: its episodes oldest first, the resolution, and SLA metrics."""
    try:
        data = await subject_service.session_timeline(sessions, tenant_id, subject_id, session_id)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    return render(
        request,
        "session.html",
        title=f"Session {session_id}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        session_id=session_id,
        data=data,
        sla=data["sla"],
    )


@dataclass(frozen=True)
class MemoryFilter:
    """The subject page's memory-table filters (query parameters ``m_*``)."""

    kind: str | None
    status: str | None
    search: str | None
    session_id: str | None


def _timeline_page(
    episodes: list[Episode], resolutions: list[Resolution], offset: int, total: int
) -> list[TimelineItem]:
    """One page of episodes with the resolutions that fall in its time span (the first
    page takes everything newer, the last everything older), newest first."""
    if episodes:
        newest = episodes[0].occurred_at if offset > 0 else None
        oldest = episodes[-1].occurred_at if offset + len(episodes) < total else None
        resolutions = [
            r
            for r in resolutions
            if (newest is None or (r.resolved_at or r.updated_at) <= newest)
            and (oldest is None or (r.resolved_at or r.updated_at) >= oldest)
        ]
    elif offset > 0:
        resolutions = []
    return _timeline(episodes, resolutions)


async def _context_preview(
    sessions: SessionsDep,
    runtime: MemoryRuntime,
    tenant_id: str,
    subject_id: str,
    task: str,
    max_tokens: int,
) -> ContextResult | None:
    if not task:
        return None
    return await build_context(
        sessions, runtime, tenant_id, subject_id, task=task, max_tokens=max_tokens, session_id=None
    )


@router.get("/subjects/{subject_id:path}", response_class=HTMLResponse)
async def subject_page(
    request: Request,
    subject_id: SubjectPath,
    sessions: SessionsDep,
    events: EventsDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    tenant_id: Text = "",
    m_kind: Text = "",
    m_status: Text = "",
    m_q: Text = "",
    m_session: Text = "",
    m_offset: Offset = 0,
    t_session: Text = "",
    t_offset: Offset = 0,
    task: Annotated[str, Query(max_length=2000)] = "",
    max_tokens: Annotated[int | None, Query(ge=50, le=16_000)] = None,
) -> Response:
    """What we know (facts, their history, open issues), a context preview, then every
    memory and the timeline, each paged and filtered."""
    try:
        found = await subject_service.detail(sessions, events, tenant_id, subject_id)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    filters = MemoryFilter(
        kind=m_kind or None,
        status=m_status if m_status in MEMORY_STATUSES else None,
        search=m_q.strip() or None,
        session_id=m_session or None,
    )
    memories, memory_total = await subject_service.memories(
        sessions,
        tenant_id,
        subject_id,
        kind=filters.kind,
        status=filters.status,
        search=filters.search,
        session_id=filters.session_id,
        limit=PAGE_SIZE,
        offset=m_offset,
    )
    episodes, episode_total = await subject_service.episodes(
        sessions,
        tenant_id,
        subject_id,
        session_id=t_session or None,
        limit=PAGE_SIZE,
        offset=t_offset,
    )
    resolutions = await resolution_service.list_resolutions(
        sessions, tenant_id, subject_id, status=None, limit=200, offset=0
    )
    if t_session:
        resolutions = [r for r in resolutions if r.session_id == t_session]
    budget = max_tokens or settings.default_max_context_tokens
    preview = await _context_preview(sessions, runtime, tenant_id, subject_id, task.strip(), budget)
    params: dict[str, str | int | None] = {
        "tenant_id": tenant_id or None,
        "m_kind": filters.kind,
        "m_status": filters.status,
        "m_q": filters.search,
        "m_session": filters.session_id,
        "m_offset": m_offset or None,
        "t_session": t_session or None,
        "t_offset": t_offset or None,
    }
    return render(
        request,
        "subject.html",
        title=f"Subject {subject_id}",
        tenant_id=tenant_id,
        subject_id=subject_id,
        path=f"/console/subjects/{_q(subject_id)}",
        params=params,
        page_size=PAGE_SIZE,
        found=found,
        known=await knowledge_service.knowledge(sessions, tenant_id, subject_id),
        memories=memories,
        memory_total=memory_total,
        memory_filter=filters,
        memory_offset=m_offset,
        kinds=await subject_service.memory_kinds(sessions, tenant_id, subject_id),
        memory_statuses=MEMORY_STATUSES,
        episode_total=episode_total,
        timeline_offset=t_offset,
        timeline_session=t_session,
        timeline=_timeline_page(episodes, resolutions, t_offset, episode_total),
        task=task,
        max_tokens=budget,
        preview=preview,
        health=found.health,
        sla=found.sla,
    )


# --- one memory: retire or correct ------------------------------------------------------------


async def _memory_edit(
    request: Request,
    memory_id: str,
    action: str,
    sessions: SessionsDep,
    events: EventSink,
    runtime: MemoryRuntime,
) -> Response:
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    parsed = _uuid(memory_id)
    tenant_id = form.get("tenant_id", "")
    reason = form.get("reason", "").strip()
    if parsed is None:
        return error_page(request, 400, "Bad request", "Invalid memory id.")
    if not reason or len(reason) > REASON_MAX:
        return error_page(
            request, 400, "Reason needed", f"Say why, in 1 to {REASON_MAX} characters."
        )
    try:
        if action == "retire":
            edit = await memory_edit_service.retire_memory(
                sessions, events, tenant_id, parsed, reason=reason, actor="console"
            )
        else:
            content = form.get("content", "")
            if len(content) > CONTENT_MAX:
                return error_page(request, 400, "Too long", "The corrected content is too long.")
            edit = await memory_edit_service.correct_memory(
                sessions,
                events,
                runtime.embedder,
                tenant_id,
                parsed,
                content=content,
                reason=reason,
                actor="console",
            )
    except StatewaveError as exc:
        return _domain_error(request, exc)
    shown = edit.replacement or edit.memory
    return _redirect(memory_url(tenant_id, shown.subject_id, shown.id))


@router.post("/memories/{memory_id}/retire")
async def retire_memory(
    request: Request, memory_id: str, sessions: SessionsDep, events: EventsDep, runtime: RuntimeDep
) -> Response:
    """Take one wrong memory out of use (audited as ``console``; ``memory.retired``)."""
    return await _memory_edit(request, memory_id, "retire", sessions, events, runtime)


@router.post("/memories/{memory_id}/correct")
async def correct_memory(
    request: Request, memory_id: str, sessions: SessionsDep, events: EventsDep, runtime: RuntimeDep
) -> Response:
    """Supersede one memory with the operator's content (``memory.corrected``)."""
    return await _memory_edit(request, memory_id, "correct", sessions, events, runtime)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- jobs -----------------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    status: Text = "",
    tenant_id: TenantChoice = None,
    kind: Text = "",
    subject_id: Text = "",
    offset: Offset = 0,
) -> Response:
    selector = JobFilter(
        status=status if status in JOB_STATUSES else None,
        subject_id=subject_id or None,
        tenant_id=_tenant_choice(tenant_id),
        kind=kind or None,
    )
    stuck_after = settings.job_orphan_after_seconds
    page = await dashboard_service.list_jobs(
        sessions, selector, limit=PAGE_SIZE, offset=offset, stuck_after_seconds=stuck_after
    )
    params: dict[str, str | int | None] = {
        "status": selector.status,
        "tenant_id": tenant_id,
        "kind": kind,
        "subject_id": subject_id,
    }
    return await _list_page(
        request,
        "jobs.html",
        sessions,
        tenant_id=tenant_id,
        total=page.total,
        offset=offset,
        params=params,
        title="Jobs",
        jobs=page.jobs,
        stuck_ids={j.id for j in page.jobs if _silent_for(j, datetime.now(UTC)) > stuck_after},
        stats=await dashboard_service.job_stats(sessions),
        **await _orphans(sessions, settings),
        statuses=JOB_STATUSES,
    )


def _silent_for(job: Job, now: datetime) -> float:
    """Seconds since a running job's last sign of life (0 for any other status)."""
    last = job.heartbeat_at or job.claimed_at or job.started_at
    if job.status != "running" or last is None:
        return 0.0
    return (now - last).total_seconds()


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    job_id: Annotated[str, Path(max_length=64)],
    sessions: SessionsDep,
    settings: SettingsDep,
) -> Response:
    """One job: status, attempts, timings, worker, the full error, payload and result."""
    try:
        job = await dashboard_service.get_job(sessions, job_id)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    silent = _silent_for(job, datetime.now(UTC))
    return render(
        request,
        "job.html",
        title=f"Job {job_id[:8]}",
        job=job,
        silent_seconds=silent,
        stuck=silent > settings.job_orphan_after_seconds,
    )


@router.post("/jobs/retry")
async def retry_jobs(request: Request, sessions: SessionsDep) -> Response:
    """One dead job (``job_id``) or every dead job back to pending, attempts reset."""
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    job_id = form.get("job_id") or None
    retried = await dashboard_service.retry_dead_jobs(
        sessions, [job_id] if job_id is not None else None
    )
    if job_id is not None and not retried:
        return error_page(request, 409, "Not retried", f"Job {job_id} is not dead (or unknown).")
    log.info("console_jobs_retried", count=len(retried))
    return _notice_redirect("jobs", "retried", len(retried))


@router.post("/jobs/rescue")
async def rescue_jobs(request: Request, sessions: SessionsDep, settings: SettingsDep) -> Response:
    """Running jobs silent for the threshold go back to pending (exhausted ones: dead)."""
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    minutes = _number(form.get("older_than_minutes"), settings.job_orphan_after_seconds / 60)
    async with sessions.begin() as session:
        swept = await job_repo.rescue_orphaned_jobs(session, minutes * 60)
    log.info("console_jobs_rescued", requeued=swept.requeued, dead=swept.dead, minutes=minutes)
    return _notice_redirect("jobs", "rescued", len(swept.requeued), len(swept.dead))


@router.post("/jobs/purge")
async def purge_jobs(request: Request, sessions: SessionsDep) -> Response:
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    status = form.get("status") or None
    selector = JobFilter(status=status, tenant_id=_tenant_choice(form.get("tenant_id")))
    hours = _number(form.get("older_than_hours"), 24.0)
    try:
        deleted = await dashboard_service.purge_jobs(sessions, selector, older_than_hours=hours)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    log.info("console_jobs_purged", deleted=deleted, status=status, hours=hours)
    return _notice_redirect("jobs", "jobs_purged", deleted)


# --- webhooks -------------------------------------------------------------------------------


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    status: Text = "",
    tenant_id: TenantChoice = None,
    event_type: Text = "",
    offset: Offset = 0,
) -> Response:
    chosen = status if status in WEBHOOK_STATUSES else None
    page = await webhook_service.list_events(
        sessions,
        status=chosen,
        event_type=event_type or None,
        tenant_id=_tenant_choice(tenant_id),
        limit=PAGE_SIZE,
        offset=offset,
    )
    params: dict[str, str | int | None] = {
        "status": chosen,
        "tenant_id": tenant_id,
        "event_type": event_type,
    }
    return await _list_page(
        request,
        "webhooks.html",
        sessions,
        tenant_id=tenant_id,
        total=page.total,
        offset=offset,
        params=params,
        title="Webhooks",
        events=page.events,
        stats=await webhook_service.stats(sessions),
        statuses=WEBHOOK_STATUSES,
        webhook_url_set=bool(settings.webhook_url),
        endpoint=_endpoint(settings.webhook_url),
    )


def _endpoint(url: str | None) -> str | None:
    """The webhook URL without credentials or query (safe to show on a page)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@router.get("/webhooks/{event_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request, event_id: str, sessions: SessionsDep, settings: SettingsDep
) -> Response:
    """One outbox event: where it goes, what it says, and its delivery state."""
    parsed = _uuid(event_id)
    if parsed is None:
        return error_page(request, 404, "Not found", "Invalid event id.")
    try:
        event = await webhook_service.get_event(sessions, parsed)
    except StatewaveError as exc:
        return _domain_error(request, exc)
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    subject_id = data.get("subject_id") if isinstance(data, dict) else None
    return render(
        request,
        "webhook.html",
        title=f"Webhook event {event_id[:8]}",
        event=event,
        subject_id=subject_id if isinstance(subject_id, str) else None,
        endpoint=_endpoint(settings.webhook_url),
    )


@router.post("/webhooks/redrive")
async def redrive_webhooks(request: Request, sessions: SessionsDep) -> Response:
    """One dead letter (``event_id``) or all of them, back to the delivery queue."""
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    event_id = form.get("event_id") or None
    ids: list[uuid.UUID] | None = None
    if event_id is not None:
        parsed = _uuid(event_id)
        if parsed is None:
            return error_page(request, 400, "Bad request", "Invalid event id.")
        ids = [parsed]
    done = await webhook_service.redrive(sessions, event_ids=ids)
    log.info("console_webhooks_redriven", count=len(done))
    return _notice_redirect("webhooks", "redriven", len(done))


@router.post("/webhooks/purge")
async def purge_webhooks(request: Request, sessions: SessionsDep) -> Response:
    form = await read_form(request)
    if isinstance(form, HTMLResponse):
        return form
    hours = _number(form.get("older_than_hours"), 24.0)
    try:
        deleted = await dashboard_service.purge_webhook_events(
            sessions,
            status=form.get("status") or None,
            event_type=None,
            tenant_id=_tenant_choice(form.get("tenant_id")),
            older_than_hours=hours,
        )
    except StatewaveError as exc:
        return _domain_error(request, exc)
    log.info("console_webhooks_purged", deleted=deleted, hours=hours)
    return _notice_redirect("webhooks", "webhooks_purged", deleted)


@router.get("/{unknown:path}", response_class=HTMLResponse)
async def not_found(request: Request, unknown: str) -> Response:
    """Any other console path: an HTML 404 with a way back."""
    return error_page(request, 404, "Not found", f"No console page at /console/{unknown}.")
