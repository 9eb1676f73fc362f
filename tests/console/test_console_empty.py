"""The dashboard of a database with no episodes says how to record the first one."""

from __future__ import annotations

from tests.reliability.support import in_process_api


async def test_an_empty_dashboard_shows_the_first_steps(db_url: str) -> None:
    async with in_process_api(db_url, tracing_enabled=False) as (_, client):
        page = await client.get("/console")
    assert page.status_code == 200, page.text
    steps = page.text[page.text.index('id="first-steps"') :].split("</div>")[0]
    assert "curl -X POST http://localhost/v1/episodes" in steps
    assert "http://localhost/v1/memories/compile" in steps
    assert "statewave packs import demo-support-agent" in steps
    assert "X-API-Key" not in steps  # no key configured, none to send
