"""Login and logout (the session cookie of ``console/auth.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from statewave_server.console import auth
from statewave_server.console.auth import CONSOLE_PREFIX
from statewave_server.console.errors import HtmlErrorRoute
from statewave_server.console.web import (
    FormDep,
    Text,
    api_key,
    log,
    notice_redirect,
    read_form,
    redirect,
    render,
    secure_cookies,
)

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=HtmlErrorRoute)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console"


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: Text = "/console") -> Response:
    if api_key(request) is None:
        return redirect(_safe_next(next))
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, form: FormDep) -> Response:
    key = api_key(request)
    target = _safe_next(form.get("next"))
    if key is None:
        return redirect(target)
    if not auth.key_matches(form.get("api_key", ""), key):
        log.warning("console_login_failed", client=request.client.host if request.client else "")
        return render(request, "login.html", 401, next=target, error="Invalid API key.")
    response = redirect(target)
    response.set_cookie(
        auth.SESSION_COOKIE,
        auth.issue_session(key),
        max_age=auth.SESSION_MAX_AGE_SECONDS,
        path=auth.CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    log.info("console_login")
    return response


@router.post("/logout", dependencies=[Depends(read_form)])
async def logout(request: Request) -> Response:
    response = notice_redirect(request, "login", "signed_out", 0)
    response.delete_cookie(auth.SESSION_COOKIE, path=auth.CONSOLE_PREFIX)
    return response
