"""Purge in two steps: the first POST shows how many rows the filter matches (a real count,
nothing deleted) and a Confirm form carrying the same filter; only that second POST deletes,
exactly the rows counted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import ConsoleServer, csrf_of


@pytest.fixture
def console(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with console_server.console() as client:
        yield client


def _job(server: ConsoleServer, tenant: str, status: str, age: str) -> None:
    server.sql(
        "INSERT INTO compilation_jobs (id, kind, tenant_id, subject_id, status, created_at) "
        f"VALUES ('{uuid.uuid4().hex}', 'compile', '{tenant}', 'p', '{status}', now() - "
        f"interval '{age}')"
    )


def _event(server: ConsoleServer, tenant: str, status: str, age: str) -> None:
    server.sql(
        "INSERT INTO webhook_events (tenant_id, event, payload, status, created_at) VALUES "
        f"""('{tenant}', 'memories.compiled', '{{}}', '{status}', now() - interval '{age}')"""
    )


def _confirm_form(html: str) -> dict[str, str]:
    """The hidden fields the confirmation page's Confirm button posts."""
    form = html[html.index('id="purge-confirm"') :]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


def _count(server: ConsoleServer, table: str, tenant: str) -> int:
    return int(server.sql(f"SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"))


def test_job_purge_previews_the_count_then_deletes_exactly_that(
    console_server: ConsoleServer, console: httpx.Client
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    for status, age in (
        ("completed", "3 days"),
        ("completed", "2 days"),
        ("dead", "3 days"),
        ("completed", "1 hour"),  # too recent
        ("pending", "3 days"),  # never purged
    ):
        _job(console_server, tenant, status, age)
    token = csrf_of(console.get("/console/jobs").text)
    chosen = {"status": "completed", "tenant_id": tenant, "older_than_hours": "24"}
    preview = console.post("/console/jobs/purge", data={"csrf_token": token, **chosen})
    assert preview.status_code == 200, preview.text
    assert (
        "This deletes <strong>2</strong> finished job(s) "
        f"(status completed, tenant {tenant}, older than 24 hours)"
    ) in preview.text
    assert '<a href="/console/jobs" id="purge-cancel">Cancel</a>' in preview.text
    assert _count(console_server, "compilation_jobs", tenant) == 5  # the preview deleted nothing

    confirm = _confirm_form(preview.text)
    assert confirm["confirm"] == "yes" and confirm["tenant_id"] == tenant
    assert confirm["status"] == "completed" and float(confirm["older_than_hours"]) == 24
    done = console.post("/console/jobs/purge", data=confirm)
    assert done.status_code == 303 and done.headers["location"] == "/console/jobs"
    assert "Purged 2 finished job(s)." in console.get("/console/jobs").text
    assert _count(console_server, "compilation_jobs", tenant) == 3

    # Any finished status: the old dead job is what is left to go.
    anything = console.post(
        "/console/jobs/purge", data={"csrf_token": token, **chosen, "status": ""}
    )
    assert "This deletes <strong>1</strong>" in anything.text
    assert "status completed or dead" in anything.text


def test_nothing_to_purge_offers_no_confirm(console: httpx.Client) -> None:
    token = csrf_of(console.get("/console/jobs").text)
    form = {"csrf_token": token, "tenant_id": "no-such-tenant", "older_than_hours": "1"}
    for page in ("jobs", "webhooks"):
        preview = console.post(f"/console/{page}/purge", data=form)
        assert preview.status_code == 200
        assert "Nothing to delete" in preview.text and "purge-confirm-button" not in preview.text
        assert f'href="/console/{page}" id="purge-cancel"' in preview.text


def test_a_refused_filter_is_an_error_page_and_deletes_nothing(
    console_server: ConsoleServer, console: httpx.Client
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    _job(console_server, tenant, "running", "3 days")
    token = csrf_of(console.get("/console/jobs").text)
    refused = console.post(
        "/console/jobs/purge",
        data={"csrf_token": token, "status": "running", "tenant_id": tenant, "confirm": "yes"},
    )
    assert refused.status_code == 400 and "<html" in refused.text
    assert _count(console_server, "compilation_jobs", tenant) == 1


def test_webhook_purge_previews_then_deletes_what_it_counted(
    console_server: ConsoleServer, console: httpx.Client
) -> None:
    tenant = f"purge-{uuid.uuid4().hex[:6]}"
    for status, age in (
        ("delivered", "2 days"),
        ("dead_letter", "2 days"),
        ("dead_letter", "3 days"),
        ("pending", "3 days"),  # never purged
    ):
        _event(console_server, tenant, status, age)
    token = csrf_of(console.get("/console/webhooks").text)
    form = {"csrf_token": token, "status": "", "tenant_id": tenant, "older_than_hours": "24"}
    preview = console.post("/console/webhooks/purge", data=form)
    assert (
        "This deletes <strong>3</strong> webhook event(s) "
        f"(status delivered or dead letter, tenant {tenant}, older than 24 hours)"
    ) in preview.text
    assert _count(console_server, "webhook_events", tenant) == 4
    done = console.post("/console/webhooks/purge", data=_confirm_form(preview.text))
    assert done.status_code == 303
    assert "Purged 3 webhook event(s)." in console.get("/console/webhooks").text
    left = f"SELECT status FROM webhook_events WHERE tenant_id = '{tenant}'"
    assert console_server.sql(left) == "pending"
