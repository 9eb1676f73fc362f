"""The subject page explains health from what was said: the phrase, when, which session,
and a link to the episode where the customer said it."""

from __future__ import annotations

import html as html_lib
import time
from urllib.parse import quote

import httpx

from statewave_server.services.admin.subjects import HEALTH_COMMIT_SLACK
from tests.console.conftest import ConsoleServer
from tests.fixtures.conversation import message_batch

AT_RISK = "bob-marsh"  # default tenant
LINES = [
    ("t-1", "user", "Our Salesforce sync failed again, third time this month."),
    ("t-1", "assistant", "Sorry for the trouble, I'm looking at the sync logs now."),
    ("t-2", "user", "Still not fixed. If it isn't solved by Friday we will cancel."),
]


def _health(console: httpx.Client) -> str:
    page = console.get(f"/console/subjects/{quote(AT_RISK, safe='')}")
    assert page.status_code == 200, page.text
    start = page.text.index('id="health"')
    return html_lib.unescape(page.text[start : page.text.index("</section>", start)])


def test_health_factors_quote_what_the_customer_said(console_server: ConsoleServer) -> None:
    batch = message_batch(AT_RISK, LINES)
    with console_server.api() as api, console_server.console() as console:
        created = api.post("/v1/episodes/batch", json={"episodes": batch[:2]})
        assert created.status_code == 201, created.text
        assert "churn threat" not in _health(console)  # computed and cached
        created = api.post("/v1/episodes/batch", json={"episodes": batch[2:]})
        assert created.status_code == 201, created.text
        threat_id = created.json()["episodes"][-1]["id"]
        body = {"subject_id": AT_RISK, "session_id": "t-2", "status": "unresolved"}
        assert api.post("/v1/resolutions", json=body).status_code == 200
        # A write since the cached report: the page recomputes instead of showing it. Once
        # the writes are older than the commit slack, that report is reused.
        time.sleep(HEALTH_COMMIT_SLACK.total_seconds())
        health = _health(console)
        # Nothing written since: the next view reuses the cached report (not recomputed).
        computed = f"SELECT updated_at FROM subject_health_cache WHERE subject_id = '{AT_RISK}'"
        before = console_server.sql(computed)
        assert _health(console) == health
        assert console_server.sql(computed) == before
    assert "churn threat" in health and "-35" in health
    assert "we will cancel" in health and "session t-2" in health
    assert f"/episodes/{threat_id}" in health
    assert "repeat contact" in health and "still unresolved" in health
    assert "healthy" not in health.split("</h2>")[0]
