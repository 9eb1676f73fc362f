"""The console over plain HTTP against a live server: every page, auth, CSRF and actions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import (
    API_KEY,
    SLASH_SUBJECT,
    SUBJECT,
    TENANT,
    ConsoleServer,
    csrf_of,
    job_status,
)


@pytest.fixture
def console(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with console_server.console() as client:
        yield client


def _subject_path(subject: str, tenant: str = "") -> str:
    query = f"?tenant_id={tenant}" if tenant else ""
    return f"/console/subjects/{quote(subject, safe='')}{query}"


def _episode_links(html: str) -> list[str]:
    return re.findall(r'class="provenance-link" href="([^"]+)"', html)


# --- authentication -------------------------------------------------------------------------


def test_pages_redirect_to_login_without_a_session(console_server: ConsoleServer) -> None:
    with httpx.Client(base_url=console_server.base_url) as anonymous:
        for path in ("/console", "/console/subjects?search=dana", "/console/jobs"):
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole")
        login = anonymous.get("/console/login")
        assert login.status_code == 200
        assert 'name="api_key"' in login.text
        assert anonymous.get("/console/static/console.css").status_code == 200
        rejected = anonymous.post("/console/jobs/rescue", data={"csrf_token": "x"})
        assert rejected.status_code == 401
        assert rejected.json()["error"]["code"] == "missing_api_key"


def test_cookie_is_accepted_only_on_console_paths(console_server: ConsoleServer) -> None:
    with console_server.console() as client:
        cookie = client.cookies.get("statewave_console")
        assert cookie
        assert client.get("/console").status_code == 200
        # The cookie is scoped to /console, and the middleware ignores it elsewhere anyway.
        forced = httpx.get(
            f"{console_server.base_url}/admin/dashboard",
            headers={"Cookie": f"statewave_console={cookie}"},
        )
        assert forced.status_code == 401
    with httpx.Client(base_url=console_server.base_url) as set_cookie:
        page = set_cookie.get("/console/login")
        done = set_cookie.post(
            "/console/login",
            data={"api_key": API_KEY, "next": "/console/jobs", "csrf_token": csrf_of(page.text)},
        )
        header = done.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header and "path=/console" in header
        assert done.headers["location"] == "/console/jobs"


def test_wrong_key_and_forged_cookie_are_refused(console_server: ConsoleServer) -> None:
    with httpx.Client(base_url=console_server.base_url) as client:
        page = client.get("/console/login")
        wrong = client.post(
            "/console/login", data={"api_key": "nope", "csrf_token": csrf_of(page.text)}
        )
        assert wrong.status_code == 401
        assert "Invalid API key" in wrong.text
        assert "statewave_console=" not in wrong.headers.get("set-cookie", "")
        client.cookies.set("statewave_console", "9999999999.deadbeef", path="/console")
        assert client.get("/console").status_code == 303
    # The header still works on console paths, as everywhere.
    header = httpx.get(f"{console_server.base_url}/console", headers={"X-API-Key": API_KEY})
    assert header.status_code == 200


def test_logout_clears_the_session(console_server: ConsoleServer) -> None:
    with console_server.console() as client:
        page = client.get("/console")
        out = client.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert "Signed out." in client.get("/console/login").text
        assert client.get("/console").status_code == 303


def test_login_redirect_target_stays_in_the_console(console_server: ConsoleServer) -> None:
    with httpx.Client(base_url=console_server.base_url) as client:
        page = client.get("/console/login")
        done = client.post(
            "/console/login",
            data={
                "api_key": API_KEY,
                "next": "https://evil.example/",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert done.headers["location"] == "/console"


# --- pages ----------------------------------------------------------------------------------


def test_dashboard(console: httpx.Client) -> None:
    page = console.get("/console")
    assert page.status_code == 200
    html = page.text
    for text in ("Readiness", "Schema", "Job queue", "Webhook outbox", "Health distribution"):
        assert text in html
    assert "acme" in html and "(default)" in html
    assert 'id="first-steps"' not in html  # only an empty database gets the curl snippet
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "http://" not in html.replace(console.base_url.host, "")  # no external assets
    css = console.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_subjects_explorer_search_filter_sort(console: httpx.Client) -> None:
    everything = console.get("/console/subjects")
    assert everything.status_code == 200
    assert SUBJECT in everything.text and SLASH_SUBJECT in everything.text
    found = console.get("/console/subjects", params={"search": "dana-w"})
    assert SUBJECT in found.text and SLASH_SUBJECT not in found.text
    # Memory content matches too: a company name appears in no subject id.
    by_content = console.get("/console/subjects", params={"search": "northwind"})
    assert SUBJECT in by_content.text and SLASH_SUBJECT in by_content.text
    nothing = console.get("/console/subjects", params={"search": "no-such-words-anywhere"})
    assert SUBJECT not in nothing.text
    tenant = console.get("/console/subjects", params={"tenant_id": ""})
    assert SLASH_SUBJECT in tenant.text and SUBJECT not in tenant.text
    acme = console.get("/console/subjects", params={"tenant_id": TENANT})
    assert SUBJECT in acme.text and SLASH_SUBJECT not in acme.text
    ordered = console.get(
        "/console/subjects", params={"sort_by": "subject_id", "sort_order": "asc"}
    ).text
    assert ordered.index(SUBJECT) < ordered.index("globex/")
    reverse = console.get(
        "/console/subjects", params={"sort_by": "subject_id", "sort_order": "desc"}
    ).text
    assert reverse.index("globex/") < reverse.index(SUBJECT)
    opened = console.get("/console/subjects", params={"open_sessions": "no"})
    assert opened.status_code == 200
    junk = console.get("/console/subjects", params={"health_state": "bogus", "sort_by": "x"})
    assert junk.status_code == 200
    past = console.get("/console/subjects", params={"offset": 1000, "sort_by": "subject_id"})
    assert past.status_code == 200
    assert "No rows on this page" in past.text and "Newer" not in past.text
    assert 'subjects?sort_by=subject_id&amp;sort_order=desc">← Last page</a>' in past.text


def test_subject_page(console: httpx.Client) -> None:
    page = console.get(_subject_path(SUBJECT, TENANT))
    assert page.status_code == 200, page.text
    html = page.text
    for text in ("What we know", "Context preview", "Summary", "Health", "SLA", "Memories"):
        assert text in html
    assert "Introduced herself; nothing to fix." in html  # the resolution on the timeline
    assert "Northwind Traders" in html
    known = html[html.index('id="known"') : html.index('id="context-preview"')]
    # The current fact first, the value it replaced folded under it (recorded lineage).
    facts = known.split('<li class="fact">')[1:]
    team = next(f for f in facts if "Team plan" in f.split("</a>")[0])
    assert "replaced 1 earlier value(s)" in team
    assert "Enterprise plan" in team and "badge-superseded" in team
    assert not any("Enterprise plan" in f.split("</a>")[0] for f in facts)  # not current
    issues = known[known.index('id="open-issues"') :]
    assert "s-2" in issues.split("</ul>")[0] and "s-1" not in issues.split("</ul>")[0]
    assert _episode_links(html), "memories should link to their source episodes"
    missing = console.get(_subject_path("no-such-subject", TENANT))
    assert missing.status_code == 404
    assert "not found" in missing.text


def test_subject_with_slash_in_its_id(console: httpx.Client) -> None:
    page = console.get(_subject_path(SLASH_SUBJECT))
    assert page.status_code == 200
    assert SLASH_SUBJECT in page.text
    link = _episode_links(page.text)[0]
    episode = console.get(link.replace("&amp;", "&"))
    assert episode.status_code == 200
    assert "Memories citing this episode" in episode.text
    assert "· tenant (default)</span>" in episode.text and "((default))" not in episode.text


def test_memory_provenance_to_source_episode(console: httpx.Client) -> None:
    html = console.get(_subject_path(SUBJECT, TENANT)).text
    memory_link = re.search(r'class="memory-link" href="([^"]+)"', html)
    assert memory_link is not None
    memory = console.get(memory_link.group(1).replace("&amp;", "&"))
    assert memory.status_code == 200
    assert "Provenance: source episodes" in memory.text and "History" in memory.text
    superseded = re.search(r'badge-superseded">superseded</span> <a href="([^"]+)"', html)
    assert superseded is not None
    older = console.get(superseded.group(1).replace("&amp;", "&")).text
    superseded_by = older[older.index('id="superseded-by"') :]
    assert "Team plan" in superseded_by.split("</ul>")[0]
    source = _episode_links(memory.text)[0].replace("&amp;", "&")
    episode = console.get(source)
    assert episode.status_code == 200
    episode_id = source.split("/episodes/")[1].split("?")[0]
    assert episode_id in episode.text
    # ...and back: the episode lists the memory among those citing it.
    memory_id = memory_link.group(1).split("/memories/")[1].split("?")[0]
    assert memory_id in episode.text
    bad = console.get(source.replace(episode_id, str(uuid.uuid4())))
    assert bad.status_code == 404


def test_session_timeline(console: httpx.Client) -> None:
    html = console.get(_subject_path(SUBJECT, TENANT)).text
    link = re.search(r'href="(/console/subjects/[^"]+/session\?[^"]*session_id=s-1[^"]*)"', html)
    assert link is not None
    page = console.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200
    assert "Session s-1" in page.text and "First response" in page.text
    assert "resolved" in page.text
    assert "Introduced herself; nothing to fix." in page.text  # the resolution's summary
    assert re.search(r'/episodes/[^"]+#citing">cited by \d+ memories</a>', page.text)
    assert 'class="handoff-notes"' not in page.text  # generated on demand only
    form = {
        "csrf_token": csrf_of(page.text),
        "tenant_id": TENANT,
        "subject_id": SUBJECT,
        "session_id": "s-1",
    }
    handoff = console.post("/console/handoff", data=form)
    assert handoff.status_code == 200, handoff.text
    notes = handoff.text[handoff.text.index('class="handoff-notes"') :].split("</pre>")[0]
    assert "## Customer" in notes and "Dana Whitfield" in notes
    assert "Session s-1" in handoff.text  # still the session's page
    refused = console.post("/console/handoff", data={**form, "csrf_token": "forged"})
    assert refused.status_code == 403


def test_jobs_page_and_rescue(
    console_server: ConsoleServer, console: httpx.Client, make_orphan: Callable[[], str]
) -> None:
    job_id = make_orphan()
    page = console.get("/console/jobs", params={"status": "running"})
    assert page.status_code == 200
    assert f'id="job-{job_id}" data-status="running"' in page.text
    assert "ghost-worker" in page.text
    done = console.post("/console/jobs/rescue", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 303
    assert done.headers["location"] == "/console/jobs"  # the notice is not in the address
    assert job_status(console_server, job_id) == "pending"
    after = console.get(done.headers["location"])
    assert "back to pending" in after.text
    assert f'id="job-{job_id}" data-status="pending"' in after.text
    reloaded = console.get(done.headers["location"])  # shown once, not on every reload
    assert "back to pending" not in reloaded.text


def test_jobs_filters_and_purge(console_server: ConsoleServer, console: httpx.Client) -> None:
    filtered = console.get("/console/jobs", params={"tenant_id": TENANT, "kind": "compile"})
    assert filtered.status_code == 200
    # The kind filter offers the kinds the table holds, the chosen one selected.
    assert '<select name="kind"><option value="">any</option>' in filtered.text
    assert '<option value="compile" selected>compile</option>' in filtered.text
    gone = console.get("/console/jobs", params={"kind": "no-such-kind"}).text
    assert '<option value="no-such-kind" selected>no-such-kind</option>' in gone
    job_id = console_server.sql(
        "INSERT INTO compilation_jobs "
        "(id, kind, tenant_id, subject_id, status, created_at, completed_at) "
        f"VALUES ('{uuid.uuid4().hex}', 'compile', 'purge-me', 'x', 'completed', "
        "now() - interval '3 days', now() - interval '3 days') RETURNING id"
    ).splitlines()[0]
    page = console.get("/console/jobs")
    form = {
        "csrf_token": csrf_of(page.text),
        "status": "completed",
        "tenant_id": "purge-me",
        "older_than_hours": "24",
    }
    preview = console.post("/console/jobs/purge", data=form)
    assert preview.status_code == 200 and "This deletes <strong>1</strong>" in preview.text
    assert job_status(console_server, job_id) == "completed"  # nothing deleted yet
    done = console.post("/console/jobs/purge", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    assert "Purged 1 finished job(s)." in console.get(done.headers["location"]).text
    assert job_status(console_server, job_id) == ""


def test_webhooks_page_redrive_and_purge(
    console_server: ConsoleServer, console: httpx.Client
) -> None:
    dead = console_server.sql(
        "UPDATE webhook_events SET status = 'dead_letter', attempts = max_attempts, "
        "last_error = 'connection refused' WHERE id = (SELECT id FROM webhook_events "
        "WHERE status = 'pending' ORDER BY created_at LIMIT 1) RETURNING id"
    ).splitlines()[0]
    page = console.get("/console/webhooks", params={"status": "dead_letter"})
    assert page.status_code == 200
    events = page.text[page.text.index('<select name="event_type">') :].split("</select>")[0]
    assert '<option value="memories.compiled">memories.compiled</option>' in events
    assert f'id="event-{dead}" data-status="dead_letter"' in page.text
    assert "connection refused" in page.text
    done = console.post(
        "/console/webhooks/redrive", data={"csrf_token": csrf_of(page.text), "event_id": dead}
    )
    assert done.status_code == 303
    assert "Redrove 1 dead-lettered" in console.get(done.headers["location"]).text
    status = f"SELECT status FROM webhook_events WHERE id = '{dead}'"
    assert console_server.sql(status) == "pending"
    # Purge: one delivered row, old enough.
    console_server.sql(
        "UPDATE webhook_events SET status = 'delivered', delivered_at = now(), "
        f"created_at = now() - interval '2 days' WHERE id = '{dead}'"
    )
    form = {"csrf_token": csrf_of(page.text), "status": "delivered", "older_than_hours": "24"}
    preview = console.post("/console/webhooks/purge", data=form)
    assert preview.status_code == 200 and "This deletes <strong>1</strong>" in preview.text
    assert console_server.sql(status) == "delivered"
    purged = console.post("/console/webhooks/purge", data={**form, "confirm": "yes"})
    assert purged.status_code == 303 and purged.headers["location"] == "/console/webhooks"
    assert console_server.sql(status) == ""
    assert "Purged 1 webhook" in console.get(purged.headers["location"]).text


def test_actions_reject_missing_or_wrong_csrf(
    console_server: ConsoleServer, console: httpx.Client, make_orphan: Callable[[], str]
) -> None:
    job_id = make_orphan()
    for data in ({}, {"csrf_token": "0" * 64}):
        for path in (
            "/console/jobs/rescue",
            "/console/jobs/purge",
            "/console/webhooks/redrive",
            "/console/webhooks/purge",
            "/console/logout",
        ):
            response = console.post(path, data=data)
            assert response.status_code == 403, path
            assert "CSRF check failed" in response.text
    assert job_status(console_server, job_id) == "running"
    # A token from another browser (another CSRF cookie) does not fit this one.
    with console_server.console() as other:
        foreign = csrf_of(other.get("/console/jobs").text)
    assert console.post("/console/jobs/rescue", data={"csrf_token": foreign}).status_code == 403
    assert job_status(console_server, job_id) == "running"
    # Clean up: the next tests expect no stray orphan.
    token = csrf_of(console.get("/console/jobs").text)
    assert console.post("/console/jobs/rescue", data={"csrf_token": token}).status_code == 303


def test_api_key_header_unchanged_elsewhere(console_server: ConsoleServer) -> None:
    base = console_server.base_url
    assert httpx.get(f"{base}/admin/dashboard").status_code == 401
    assert httpx.get(f"{base}/admin/dashboard", headers={"X-API-Key": "bad"}).status_code == 403
    ok = httpx.get(f"{base}/admin/dashboard", headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200
