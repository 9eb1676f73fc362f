"""What every console page shares: the Jinja environment, ``render``, the checked form,
one-shot notices, redirects and small parsers (filters are in ``formatting.py``, URLs in
``urls.py``, the HTML error route in ``errors.py``).

Page modules (``console/pages/``) only read the request, call services and render.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

import structlog
from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server import __version__
from statewave_server.console import auth, formatting
from statewave_server.console.urls import (
    episode_url,
    memory_url,
    page_at,
    page_url,
    session_url,
    subject_url,
)
from statewave_server.services.admin import dashboard as dashboard_service
from statewave_server.services.compiler.drafts import episode_text
from statewave_server.settings import Settings

log = structlog.get_logger("statewave.console")

ALL_TENANTS: Final = "*"
PAGE_SIZE: Final = 50
MAX_FORM_BYTES: Final = 16_384
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
NOTICE_COOKIE: Final = "statewave_console_notice"
NOTICES: Final = {
    "rescued": "Rescue done: {count} job(s) back to pending, {extra} buried as dead.",
    "jobs_purged": "Purged {count} finished job(s).",
    "retried": "Retried {count} dead job(s): back to pending with fresh attempts.",
    "redriven": "Redrove {count} dead-lettered webhook event(s).",
    "webhooks_purged": "Purged {count} webhook event(s).",
    "signed_out": "Signed out.",
}

Text = Annotated[str, Query(max_length=256)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
TenantChoice = Annotated[str | None, Query(max_length=256)]  # see tenant_choice
SubjectPath = Annotated[str, Path(min_length=1, max_length=256)]


class PageError(Exception):
    """Raised anywhere below a console route: answered with the HTML error page."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


# --- rendering ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("statewave_server.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=formatting.exact,
        duration=formatting.duration,
        when=formatting.when,
        stamp=formatting.stamp,
        tenant=formatting.tenant_label,
        pretty_json=formatting.pretty_json,
        code_spans=formatting.code_spans,
        episode_text=episode_text,
        short=lambda value: str(value)[:8],
    )
    env.globals.update(
        subject_url=subject_url,
        episode_url=episode_url,
        memory_url=memory_url,
        session_url=session_url,
        page_url=page_url,
        page_at=page_at,
        version=__version__,
        ALL_TENANTS=ALL_TENANTS,
    )
    return env


def api_key(request: Request) -> bytes | None:
    settings: Settings = request.app.state.settings
    secret = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    return secret.encode("utf-8") if secret else None


def secure_cookies(request: Request) -> bool:
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
    key = api_key(request)
    html = (
        _environment()
        .get_template(template)
        .render(
            csrf_token=auth.csrf_token(seed, key),
            auth_enabled=key is not None,
            notice=_notice(request),
            nav=template.split(".")[0],
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if NOTICE_COOKIE in request.cookies:  # shown once: a reload does not repeat it
        response.delete_cookie(NOTICE_COOKIE, path=auth.CONSOLE_PREFIX)
    if fresh:
        response.set_cookie(
            auth.CSRF_COOKIE,
            seed,
            path=auth.CONSOLE_PREFIX,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
        )
    return response


def _notice(request: Request) -> str | None:
    """The one-shot notice the last POST left in :data:`NOTICE_COOKIE` (``key:count:extra``)."""
    key, _, numbers = request.cookies.get(NOTICE_COOKIE, "").partition(":")
    template = NOTICES.get(key)
    if template is None:
        return None
    counts = [int(n) if n.isdigit() and len(n) < 10 else 0 for n in numbers.split(":")]
    count, extra = [*counts, 0, 0][:2]
    return template.format(count=count, extra=extra)


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    response = render(request, "error.html", status_code, title=title, message=message)
    if status_code == 503:
        response.headers["Retry-After"] = "30"
    return response


async def list_page(
    request: Request,
    template: str,
    db: async_sessionmaker[AsyncSession],
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
        tenants=await dashboard_service.tenants(db),
        selected_tenant=tenant_id if tenant_id is not None else ALL_TENANTS,
        **context,
    )


# --- forms and redirects --------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form, after checking its CSRF token (else :class:`PageError`)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "Form too large", "The form body is too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Bad form", "The form could not be read.") from None
    form = {name: values[-1] for name, values in parsed.items()}
    seed = request.cookies.get(auth.CSRF_COOKIE)
    if not auth.csrf_valid(seed, form.get(auth.CSRF_FIELD), api_key(request)):
        log.warning("console_csrf_rejected", path=request.url.path)
        raise PageError(
            403,
            "CSRF check failed",
            "The form's security token is missing or stale. Reload the page and try again.",
        )
    return form


#: A POST handler's checked form (a failed CSRF check or a bad body never reaches it).
FormDep = Annotated[dict[str, str], Depends(read_form)]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def notice_redirect(
    request: Request, page: str, notice: str, count: int, extra: int | None = None
) -> RedirectResponse:
    """Back to ``/console/{page}`` (POST/redirect/GET) with a :data:`NOTICES` message in a
    one-shot cookie: the next page shows it and deletes it, so a reload does not repeat it
    and the address stays clean."""
    response = redirect(f"/console/{page}")
    value = f"{notice}:{count}" + (f":{extra}" if extra is not None else "")
    response.set_cookie(
        NOTICE_COOKIE,
        value,
        max_age=60,
        path=auth.CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


def number(raw: str | None, default: float, *, low: float = 0, high: float = 876_000) -> float:
    """A form number within ``[low, high]``, else ``default``."""
    try:
        value = float(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    if value != value or not low <= value <= high:  # NaN or out of range
        return default
    return value


def tenant_choice(raw: str | None) -> str | None:
    """``*``/absent = every tenant (None); anything else, '' included, is one tenant."""
    return None if raw is None or raw == ALL_TENANTS else raw


def parse_uuid(value: str, what: str, *, status_code: int = 404) -> uuid.UUID:
    """``value`` as a UUID, else :class:`PageError` naming ``what``."""
    try:
        return uuid.UUID(value)
    except ValueError:
        title = "Not found" if status_code == 404 else "Bad request"
        raise PageError(status_code, title, f"Invalid {what} id.") from None
