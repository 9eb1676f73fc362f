"""Jobs an operator can fix from the page (stuck first and flagged, a detail page, retry),
and console errors that are pages, not the API's JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.console.conftest import ConsoleServer, csrf_of, job_status


@pytest.fixture
def console(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with console_server.console() as client:
        yield client


def _dead_job(server: ConsoleServer, error: str = "boom: unknown kind") -> str:
    job_id = uuid.uuid4().hex
    server.sql(
        "INSERT INTO compilation_jobs (id, kind, tenant_id, subject_id, status, attempts, "
        "max_attempts, error, payload, created_at, completed_at) VALUES "
        f"('{job_id}', 'reindex', 'ops', 'dead-subject', 'dead', 3, 3, '{error}', "
        """'{"shard": 7}', now() - interval '1 hour', now())"""
    )
    return job_id


def test_stuck_jobs_come_first_and_are_flagged(
    console: httpx.Client, make_orphan: Callable[[], str]
) -> None:
    stuck = make_orphan()
    page = console.get("/console/jobs").text
    rows = page[page.index("<tbody>") :]
    first_row = rows.split("</tr>")[0]
    assert f'id="job-{stuck}"' in first_row and 'class="stuck"' in first_row
    assert "stuck</strong>" in first_row and " ago</time>" in first_row
    # The table comes first (a phone sees it without scrolling); the actions fold below,
    # open while something needs them (here: the stuck job).
    assert page.index('id="jobs"') < page.index('id="job-actions" open') < page.index('id="rescue"')
    detail = console.get(f"/console/jobs/{stuck}")
    assert detail.status_code == 200
    assert "Silent for 31m" in detail.text and 'href="/console/jobs#rescue"' in detail.text
    assert 'id="rescue-job"' in detail.text and f'name="job_id" value="{stuck}"' in detail.text
    assert "ghost-worker" in detail.text


def test_job_detail_shows_error_and_payload(
    console_server: ConsoleServer, console: httpx.Client
) -> None:
    job_id = _dead_job(console_server, "boom: long error text")
    page = console.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200
    assert '<pre id="job-error">boom: long error text</pre>' in page.text
    assert "&#34;shard&#34;: 7" in page.text and 'id="retry-job"' in page.text
    missing = console.get("/console/jobs/no-such-job")
    assert (
        missing.status_code == 404 and "<html" in missing.text and "Job not found" in missing.text
    )


def test_retry_one_dead_job_then_all(console_server: ConsoleServer, console: httpx.Client) -> None:
    one = _dead_job(console_server)
    page = console.get("/console/jobs", params={"status": "dead"})
    assert f'aria-label="Retry job {one[:8]}"' in page.text
    token = csrf_of(page.text)
    done = console.post("/console/jobs/retry", data={"csrf_token": token, "job_id": one})
    assert done.status_code == 303 and done.headers["location"] == "/console/jobs"
    assert "Retried 1 dead job(s)" in console.get(done.headers["location"]).text
    assert job_status(console_server, one) == "pending"
    attempts = console_server.sql(f"SELECT attempts FROM compilation_jobs WHERE id = '{one}'")
    assert attempts == "0"
    again = console.post("/console/jobs/retry", data={"csrf_token": token, "job_id": one})
    assert again.status_code == 409 and "<html" in again.text
    others = [_dead_job(console_server), _dead_job(console_server)]
    everything = console.post("/console/jobs/retry", data={"csrf_token": token})
    assert everything.status_code == 303
    assert all(job_status(console_server, job_id) == "pending" for job_id in others)
    forged = console.post("/console/jobs/retry", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403


def test_console_errors_are_html_pages(console: httpx.Client) -> None:
    for path, status in (
        ("/console/no-such-page", 404),
        ("/console/subjects?offset=-1", 422),
        ("/console/subjects/dana-whitfield/session", 422),
        ("/console/jobs?offset=abc", 422),
    ):
        response = console.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<h1>" in response.text and not response.text.startswith("{"), path
    bad = console.get("/console/subjects?offset=-1").text
    assert "Invalid request" in bad and "offset" in bad


def test_dashboard_lists_what_needs_attention(
    console_server: ConsoleServer, console: httpx.Client, make_orphan: Callable[[], str]
) -> None:
    make_orphan()
    dead = _dead_job(console_server)
    page = console.get("/console").text
    attention = page[
        page.index('id="attention"') : page.index("</section>", page.index('id="attention"'))
    ]
    assert 'href="/console/jobs?status=running"' in attention and "stuck job(s)" in attention
    assert 'href="/console/jobs?status=dead"' in attention and "dead job(s)" in attention
    # Readiness details show `commands` as code, not literal backticks.
    assert "`statewave jobs rescue`" not in page and "<code>statewave jobs rescue</code>" in page
    retried = console.post(
        "/console/jobs/retry", data={"csrf_token": csrf_of(page), "job_id": dead}
    )
    assert retried.status_code == 303


def test_dashboard_refreshes_itself_on_request(console: httpx.Client) -> None:
    plain = console.get("/console").text
    assert 'http-equiv="refresh"' not in plain and 'href="/console?refresh=30"' in plain
    live = console.get("/console", params={"refresh": 30}).text
    assert '<meta http-equiv="refresh" content="30">' in live
    assert console.get("/console", params={"refresh": 1}).status_code == 422  # too eager


def test_row_rescue_requeues_exactly_that_stuck_job(
    console_server: ConsoleServer, console: httpx.Client, make_orphan: Callable[[], str]
) -> None:
    stuck, other = make_orphan(), make_orphan()
    page = console.get("/console/jobs").text
    assert f'aria-label="Rescue job {stuck[:8]}"' in page
    token = csrf_of(page)
    done = console.post("/console/jobs/rescue", data={"csrf_token": token, "job_id": stuck})
    assert done.status_code == 303 and done.headers["location"] == "/console/jobs"
    after = console.get("/console/jobs").text
    assert "Rescue done: 1 job(s) back to pending, 0 buried as dead." in after
    assert job_status(console_server, stuck) == "pending"
    assert job_status(console_server, other) == "running"  # only the one asked for
    assert f'aria-label="Rescue job {stuck[:8]}"' not in after

    # A running job whose worker still heartbeats is not stuck: 409, left to its worker.
    console_server.sql(f"UPDATE compilation_jobs SET heartbeat_at = now() WHERE id = '{other}'")
    live = console.post("/console/jobs/rescue", data={"csrf_token": token, "job_id": other})
    assert live.status_code == 409 and "<html" in live.text and "heartbeating" in live.text
    assert job_status(console_server, other) == "running"
    missing = console.post("/console/jobs/rescue", data={"csrf_token": token, "job_id": "nope"})
    assert missing.status_code == 404 and "Job not found" in missing.text
    # Clean up: the live job goes back to the queue so later tests see no running job.
    console_server.sql(f"UPDATE compilation_jobs SET status = 'pending' WHERE id = '{other}'")
