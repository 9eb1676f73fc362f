"""The console in headless Chromium (Debian's ``chromium``, driven by Playwright).

Walks the acceptance path: sign in, load the dashboard, open a subject from the explorer,
follow a memory's provenance link to its source episode, and rescue an orphaned job.
Screenshots of every step land in ``test-artifacts/console/`` at the repository root.
Skipped, with a message, only when no Chromium binary is installed, and never under
``CI=true`` (there a missing browser fails the test). ``TEST_ARTIFACTS_DIR`` moves
the screenshots; the session summary prints where they are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.console.conftest import (
    API_KEY,
    ARTIFACTS,
    SUBJECT,
    ConsoleServer,
    job_status,
)
from tests.fixtures.ci import require_real_part

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str | None:
    """``STATEWAVE_TEST_CHROMIUM``, else Debian's ``chromium`` on PATH."""
    configured = os.environ.get("STATEWAVE_TEST_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser_page() -> Iterator[object]:
    binary = chromium_binary()
    require_real_part(
        binary is not None,
        "no Chromium binary: install Debian's `chromium` package "
        "(apt-get install -y chromium) or set STATEWAVE_TEST_CHROMIUM",
    )
    assert binary is not None
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=binary,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            context.close()


def _shot(page: object, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 0
    return path


def test_console_walkthrough(
    console_server: ConsoleServer, browser_page: object, make_orphan: Callable[[], str]
) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    base = console_server.base_url

    # Sign in: the console redirects to the login form, which sets the session cookie.
    page.goto(f"{base}/console")
    expect(page).to_have_url(f"{base}/console/login?next=%2Fconsole")
    _shot(page, "01-login")
    page.fill("#api_key", API_KEY)
    page.click("button[type=submit]")

    # Dashboard.
    expect(page).to_have_url(f"{base}/console")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.get_by_role("heading", name="Job queue")).to_be_visible()
    expect(page.get_by_role("heading", name="Health distribution")).to_be_visible()
    _shot(page, "02-dashboard")

    # Subjects explorer: search, then open the subject.
    page.click("nav >> text=Subjects")
    expect(page.locator("h1")).to_contain_text("Subjects")
    page.fill("input[name=search]", "dana-w")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#subjects a.subject-link")).to_have_count(1)
    _shot(page, "03-subjects")
    page.click(f"#subjects a.subject-link:text-is('{SUBJECT}')")
    expect(page.locator("#subject-title")).to_have_text(SUBJECT)
    expect(page.locator("#memories")).to_be_visible()
    expect(page.locator("#timeline .event.resolution").first).to_be_visible()
    expect(page.locator("#known details.replaced summary").first).to_have_text(
        "replaced 1 earlier value(s)"
    )
    _shot(page, "04-subject")

    # Context preview: the bundle an agent would get for an operator-typed task.
    page.fill("#preview-task", "Why does the CSV export fail?")
    page.click("#context-preview button[type=submit]")
    expect(page.locator("#assembled-context")).to_contain_text("CSV export")
    expect(page.locator("#preview-budget-used")).to_contain_text("tokens")
    _shot(page, "04b-context-preview")

    # Retire one wrong memory from its page (CSRF form), then back on the subject page.
    page.click("#known a.fact-link:has-text('Dana Whitfield')")
    page.fill("#retire-reason", "test: wrong name")
    page.click("#memory-actions button.danger")
    expect(page.locator("h1 .badge-deleted")).to_be_visible()
    _shot(page, "04c-memory-retired")
    page.go_back()
    page.go_back()
    page.reload()
    expect(page.locator("#known a.fact-link:has-text('Dana Whitfield')")).to_have_count(0)

    # Provenance: a memory's source-episode link lands on that episode.
    link = page.locator("#memories a.provenance-link").first
    href = link.get_attribute("href")
    assert href is not None and "/episodes/" in href
    episode_id = href.split("/episodes/")[1].split("?")[0]
    link.click()
    expect(page).to_have_url(f"{base}{href}")
    expect(page.locator("#episode-title")).to_contain_text(episode_id)
    expect(page.locator("#citing li a").first).to_be_visible()
    _shot(page, "05-episode")

    # Job rescue: the orphan shows as running, the rescue puts it back to pending.
    job_id = make_orphan()
    page.click("nav >> text=Jobs")
    row = page.locator(f"#job-{job_id}")
    expect(row).to_have_attribute("data-status", "running")
    _shot(page, "06-jobs-before-rescue")
    page.click("#rescue-button")
    expect(page.locator(".notice")).to_contain_text("back to pending")
    expect(page.locator(f"#job-{job_id}")).to_have_attribute("data-status", "pending")
    assert job_status(console_server, job_id) in ("pending", "completed")
    _shot(page, "07-jobs-after-rescue")

    # Webhooks page renders too.
    page.click("nav >> text=Webhooks")
    expect(page.locator("h1")).to_contain_text("Webhooks")
    _shot(page, "08-webhooks")


def test_purge_asks_first_and_a_stuck_row_is_rescued(
    console_server: ConsoleServer, browser_page: object, make_orphan: Callable[[], str]
) -> None:
    """Purge shows "This deletes N" and deletes only on Confirm (Cancel deletes nothing);
    a stuck row's own Rescue button requeues just that job."""
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    base = console_server.base_url
    old = [uuid.uuid4().hex for _ in range(2)]
    for job_id in old:  # the only jobs of this tenant older than 200 hours
        console_server.sql(
            "INSERT INTO compilation_jobs (id, kind, tenant_id, subject_id, status, created_at) "
            f"VALUES ('{job_id}', 'compile', 'acme', 'p', 'completed', now() - interval '10 days')"
        )
    ids = ", ".join(f"'{job_id}'" for job_id in old)
    left = f"SELECT count(*) FROM compilation_jobs WHERE id IN ({ids})"

    def fill_purge() -> None:
        page.goto(f"{base}/console/jobs")  # the walkthrough's session cookie is still set
        page.evaluate("document.querySelector('#job-actions').open = true")
        page.select_option("#purge select[name=status]", "completed")
        page.select_option("#purge-tenant", "acme")
        page.fill("#purge input[name=older_than_hours]", "200")
        page.click("#purge button.danger")
        expect(page.locator("#purge-count")).to_contain_text(
            "This deletes 2 finished job(s) (status completed, tenant acme, older than 200 hours)"
        )

    fill_purge()
    page.click("#purge-cancel")
    expect(page).to_have_url(f"{base}/console/jobs")
    assert console_server.sql(left) == "2"  # cancelled: nothing deleted
    fill_purge()
    _shot(page, "09-purge-confirm")
    assert console_server.sql(left) == "2"
    page.click("#purge-confirm-button")
    expect(page.locator(".notice")).to_have_text("Purged 2 finished job(s).")
    assert console_server.sql(left) == "0"

    stuck, other = make_orphan(), make_orphan()
    page.goto(f"{base}/console/jobs")
    page.get_by_role("button", name=f"Rescue job {stuck[:8]}").click()
    expect(page.locator(".notice")).to_contain_text("Rescue done: 1 job(s) back to pending")
    expect(page.locator(f"#job-{stuck}")).to_have_attribute("data-status", "pending")
    expect(page.locator(f"#job-{other}")).to_have_attribute("data-status", "running")
    _shot(page, "10-jobs-after-row-rescue")
    page.get_by_role("button", name=f"Rescue job {other[:8]}").click()  # leave none stuck
    expect(page.locator(f"#job-{other}")).to_have_attribute("data-status", "pending")


def test_pages_fit_a_390px_phone(console_server: ConsoleServer, browser_page: object) -> None:
    """No page scrolls sideways at 390 px (wide tables scroll inside their own box), and
    no page repeats an element id."""
    from playwright.sync_api import Page

    page: Page = browser_page  # type: ignore[assignment]
    base = console_server.base_url
    page.set_viewport_size({"width": 390, "height": 844})
    event_id = console_server.sql(  # an event with a long unbroken attempt error
        "INSERT INTO statewave_webhook_attempts (event_id, tenant_id, attempt, http_status, "
        "duration_ms, error, response_snippet) SELECT id, tenant_id, 1, 502, 41, "
        "'HTTP 502: ' || repeat('x', 400), repeat('y', 300) FROM webhook_events "
        "ORDER BY created_at LIMIT 1 RETURNING event_id"
    ).splitlines()[0]
    try:
        page.goto(f"{base}/console")  # the walkthrough's session cookie is still set
        for name, path in (
            ("dashboard", "/console"),
            ("subjects", "/console/subjects"),
            ("subject", f"/console/subjects/{SUBJECT}?tenant_id=acme"),
            ("jobs", "/console/jobs"),
            ("webhooks", "/console/webhooks"),
            ("webhook", f"/console/webhooks/{event_id}"),
            ("search", "/console/search?q=dana"),
        ):
            page.goto(f"{base}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            _shot(page, f"m-{name}-390")
            assert width <= 390, f"{path} is {width}px wide"
            duplicated = page.evaluate(
                "() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
                " return ids.filter((id, i) => ids.indexOf(id) !== i); }"
            )
            assert duplicated == [], f"{path} repeats element ids {duplicated}"
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_errors_are_pages_in_the_browser(
    console_server: ConsoleServer, browser_page: object
) -> None:
    """A wrong address, a bad query string and an unknown memory show the console's own
    page (styled, with a way back), not the API's JSON."""
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    base = console_server.base_url
    page.goto(f"{base}/console")  # the walkthrough's session cookie is still set
    for name, path, title in (
        ("404", "/console/no-such-page", "Not found"),
        ("422", "/console/subjects?offset=-1", "Invalid request"),
        ("memory-404", f"/console/subjects/{SUBJECT}/memories/{uuid.uuid4()}", "Memory not found"),
    ):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.headers["content-type"].startswith("text/html")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
        _shot(page, f"error-{name}")


def test_on_call_home_in_the_browser(console_server: ConsoleServer, browser_page: object) -> None:
    """The dashboard's sparklines (light and dark), the top bar search, the webhook header
    card, then logging out: the login form says so, once. Runs last (it signs out)."""
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    base = console_server.base_url
    page.goto(f"{base}/console")
    if "/console/login" in page.url:
        page.fill("#api_key", API_KEY)
        page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")

    # Every episode of this database was written during the session, so within the last
    # 24 h: the chart counts those recorded by the time it was computed (it is reused for
    # a minute, and the heading says when).
    computed = page.locator("#last-day-title time").get_attribute("datetime")
    episodes = int(
        console_server.sql(f"SELECT count(*) FROM episodes WHERE created_at <= '{computed}'")
    )
    assert episodes > 0
    chart = page.locator("#spark-episodes svg")
    expect(chart).to_have_attribute("role", "img")
    label = chart.get_attribute("aria-label") or ""
    assert label.startswith(f"Episodes recorded, last 24 hours: {episodes} episodes; peak"), label
    expect(page.locator("#spark-queue")).to_contain_text("not yet started")
    _shot(page, "09-dashboard-sparklines")
    bar = "getComputedStyle(document.querySelector('#spark-episodes rect')).fill"
    light = page.evaluate(bar)
    page.emulate_media(color_scheme="dark")
    try:
        assert page.evaluate(bar) == "rgb(143, 176, 255)" != light  # the dark palette's accent
        _shot(page, "10-dashboard-dark")
    finally:
        page.emulate_media(color_scheme="light")

    # Top bar search: an exact subject id opens it; odd text says nothing was found.
    page.fill("#topbar-q", SUBJECT)
    page.press("#topbar-q", "Enter")
    expect(page.locator("#subject-title")).to_have_text(SUBJECT)
    page.fill("#topbar-q", "dana")  # one subject by id, the other by its memories
    page.press("#topbar-q", "Enter")
    expect(page.locator("#search-subjects li")).to_have_count(2)
    _shot(page, "11-search-results")
    page.fill("#topbar-q", "%_")
    page.press("#topbar-q", "Enter")
    expect(page.locator("#search-none")).to_contain_text("Nothing found")
    expect(page.locator("#topbar-q")).to_have_value("%_")
    _shot(page, "11b-search-nothing-found")

    # Webhooks: the header card (no secret on this server: signing off).
    page.click("nav >> text=Webhooks")
    expect(page.locator("#signing")).to_contain_text("off")
    expect(page.locator("#success-rate")).to_be_visible()
    _shot(page, "12-webhooks-header")

    # Log out: the login form confirms it once; a reload does not repeat it.
    page.click("form.logout button")
    expect(page).to_have_url(f"{base}/console/login")
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    _shot(page, "13-signed-out")
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)
