"""The dashboard of a database with no episodes says how to record the first one."""

from __future__ import annotations

import httpx

from statewave_server.app import create_app
from statewave_server.db.engine import Database
from statewave_server.services.runtime import build_runtime
from tests.reliability.support import app_settings


async def _dashboard(db_url: str) -> str:
    settings = app_settings(db_url, tracing_enabled=False)
    database = Database.from_settings(settings)
    app = create_app(settings, database, build_runtime(settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            page = await client.get("/console")
    finally:
        await database.dispose()
    assert page.status_code == 200, page.text
    return page.text


async def test_an_empty_dashboard_shows_the_first_steps(db_url: str) -> None:
    html = await _dashboard(db_url)
    steps = html[html.index('id="first-steps"') :].split("</div>")[0]
    assert "curl -X POST http://localhost/v1/episodes" in steps
    assert "http://localhost/v1/memories/compile" in steps
    assert "statewave packs import demo-support-agent" in steps
    assert "X-API-Key" not in steps  # no key configured, none to send
