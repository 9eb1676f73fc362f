"""Console failures are HTML pages, never the API's JSON envelope: unknown pages, bad
query strings, bad ids, refused forms, and a 503 page while the database is down."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest

from devtools.server import free_port
from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import build_runtime
from tests.console.conftest import TENANT, ConsoleServer
from tests.reliability.support import app_settings


def assert_html_error(response: httpx.Response, status: int, title: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert not response.text.lstrip().startswith("{")
    assert re.search(rf"<h1>{re.escape(title)}</h1>", response.text), response.text
    assert 'href="/console"' in response.text  # a way back


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/console/no-such-page", 404, "Not found"),
        ("/console/subjects?offset=-1", 422, "Invalid request"),
        ("/console/jobs?offset=abc", 422, "Invalid request"),
        ("/console/subjects/dana-whitfield/session", 422, "Invalid request"),
        (f"/console/subjects/dana-whitfield/memories/{uuid.uuid4()}", 404, "Memory not found"),
        ("/console/subjects/dana-whitfield/episodes/not-a-uuid", 404, "Not found"),
        ("/console/jobs/no-such-job", 404, "Job not found"),
        ("/console/webhooks/not-a-uuid", 404, "Not found"),
        ("/console/subjects/nobody-here", 404, "Subject not found"),
    ],
)
def test_bad_addresses_are_html_pages(
    console_server: ConsoleServer, path: str, status: int, title: str
) -> None:
    with console_server.console() as console:
        response = console.get(path, params={"tenant_id": TENANT} if "memories" in path else None)
    assert_html_error(response, status, title)


def test_refused_and_unknown_posts_are_html_pages(console_server: ConsoleServer) -> None:
    with console_server.console() as console:
        no_token = console.post("/console/jobs/retry", data={"job_id": "x"})
        unknown = console.post("/console/subjects", data={"x": "1"})
    assert_html_error(no_token, 403, "CSRF check failed")
    assert_html_error(unknown, 404, "Not found")


async def test_a_database_outage_is_an_html_503_on_every_data_page() -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = app_settings(dead, db_connect_timeout_seconds=1, tracing_enabled=False)
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    transport = httpx.ASGITransport(app=app)  # no lifespan: startup would need the database
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            pages = [
                await client.get(path)
                for path in (
                    "/console",
                    "/console/subjects",
                    "/console/subjects/anyone",
                    "/console/jobs",
                    "/console/webhooks",
                )
            ]
            login = await client.get("/console/static/console.css")
    finally:
        await database.dispose()
    for page in pages:
        assert_html_error(page, 503, "Database unavailable")
        assert page.headers["retry-after"] == "30"
        assert "The database is unavailable; retry." in page.text
    assert login.status_code == 200  # the stylesheet needs no database


def _first_link(html: str, pattern: str) -> str:
    found = re.search(rf'href="({pattern}[^"#]*)"', html)
    assert found is not None, pattern
    return found.group(1).replace("&amp;", "&")


def test_no_page_repeats_an_element_id_and_every_table_has_a_caption(
    console_server: ConsoleServer, make_orphan: Callable[[], str]
) -> None:
    """Every kind of page, detail and error pages included (labels point at one field; a
    screen reader names every table)."""
    make_orphan()  # a job to open
    with httpx.Client(base_url=console_server.base_url) as anonymous:
        pages = {"login": anonymous.get("/console/login").text}
    with console_server.console() as console:
        for path in ("/console", "/console/subjects", "/console/jobs", "/console/webhooks"):
            pages[path] = console.get(path).text
        subject = console.get(f"/console/subjects/dana-whitfield?tenant_id={TENANT}").text
        pages["subject"] = subject
        for name, pattern in (
            ("memory", r"/console/subjects/[^\"]+/memories/"),
            ("episode", r"/console/subjects/[^\"]+/episodes/"),
            ("session", r"/console/subjects/[^\"]+/session\?"),
        ):
            pages[name] = console.get(_first_link(subject, pattern)).text
        pages["job"] = console.get(_first_link(pages["/console/jobs"], "/console/jobs/")).text
        event = _first_link(pages["/console/webhooks"], "/console/webhooks/")
        pages["webhook"] = console.get(event).text
        pages["error"] = console.get("/console/nowhere").text
    for name, html in pages.items():
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert ids, name
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        assert repeated == [], f"{name} repeats element ids {repeated}"
        tables = re.findall(r"<table[^>]*>\s*(<caption[^>]*>[^<]+</caption>)?", html)
        assert all(tables), f"{name} has a table without a caption"


RELATIVE = re.compile(
    r'<time datetime="\d{4}-\d\d-\d\dT[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">'
    r"\d+(?:s| min| h| d) ago</time>"
)


def test_times_are_relative_with_the_exact_time_on_hover(console_server: ConsoleServer) -> None:
    with console_server.console() as console:
        for path in (
            "/console/subjects",
            f"/console/subjects/dana-whitfield?tenant_id={TENANT}",
            "/console/webhooks",
        ):
            html = console.get(path).text
            assert RELATIVE.search(html), path
            assert not re.search(
                r">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<", html.split('id="timeline"')[0]
            )
