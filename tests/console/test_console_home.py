"""The on-call home over HTTP, on a server of this module alone (so every count is known):
the dashboard's 24 h sparklines and migration audit, the webhook header card, the top bar
search and the public favicon."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from devtools.postgres import PgServer
from statewave_server import __version__
from tests.console.conftest import ConsoleServer, console_on_fresh_database

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _hour(back: int, minute: int = 10) -> datetime:
    """``minute`` past the hour ``back`` hours before the current one (UTC)."""
    return HOUR - timedelta(hours=back) + timedelta(minutes=minute)


def _span(back: int) -> str:
    start = HOUR - timedelta(hours=back)
    return f"{start:%H:%M}–{start + timedelta(hours=1):%H:%M} UTC"


JOB_PENDING = uuid.uuid4().hex
EVENT_DELIVERED = uuid.uuid4()
SUBJECTS = [("", "spark-1"), ("", "acme-alpha"), ("t2", "acme-alpha"), ("", "acme-beta")]


def _plant(server: ConsoleServer) -> None:
    """Rows at known hours: 7 episodes 5 h ago, 2 jobs completed 3 h ago, a job pending
    since 4 h ago, 3 deliveries and 1 dead letter 2 h ago."""
    episodes = [(t, s, _hour(5)) for t, s in SUBJECTS] + [("", "spark-1", _hour(5, 40))] * 3
    episodes.append(("", f"ref-{JOB_PENDING[:8]}", _hour(30)))  # before the 24 h window
    values = ", ".join(
        f"(gen_random_uuid(), '{t}', '{s}', 'test', 'message', '{{}}', '{at.isoformat()}')"
        for t, s, at in episodes
    )
    server.sql(
        "INSERT INTO episodes (id, tenant_id, subject_id, source, type, payload, created_at) "
        f"VALUES {values}"
    )
    jobs = [
        (uuid.uuid4().hex, "completed", _hour(3, 5), _hour(3, 6), _hour(3, 20)),
        (uuid.uuid4().hex, "completed", _hour(3, 7), _hour(3, 8), _hour(3, 50)),
        (JOB_PENDING, "pending", _hour(4), None, None),
    ]
    server.sql(
        "INSERT INTO compilation_jobs (id, subject_id, kind, status, created_at, started_at, "
        "completed_at) VALUES "
        + ", ".join(
            f"('{i}', 'spark-1', 'compile', '{st}', '{c.isoformat()}', "
            + (f"'{s.isoformat()}', '{d.isoformat()}')" if s and d else "NULL, NULL)")
            for i, st, c, s, d in jobs
        )
    )
    delivered = [EVENT_DELIVERED, uuid.uuid4(), uuid.uuid4()]
    rows = [
        f"('{e}', 'memories.compiled', '{{}}', 'delivered', '{_hour(2, 5 + i).isoformat()}', "
        f"'{_hour(2, 5 + i).isoformat()}', NULL)"
        for i, e in enumerate(delivered)
    ]
    rows.append(
        f"('{uuid.uuid4()}', 'subject.deleted', '{{}}', 'dead_letter', NULL, "
        f"'{_hour(2, 30).isoformat()}', 'HTTP 410')"
    )
    server.sql(
        "INSERT INTO webhook_events (id, event, payload, status, delivered_at, "
        f"last_attempt_at, last_error) VALUES {', '.join(rows)}"
    )


@pytest.fixture(scope="module")
def home(
    pg: PgServer, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    log_dir = tmp_path_factory.mktemp("console-home")
    with console_on_fresh_database(
        pg, migrated_template, log_dir, STATEWAVE_WEBHOOK_SECRET="home-secret"
    ) as server:
        _plant(server)
        yield server


@pytest.fixture
def console(home: ConsoleServer) -> Iterator[httpx.Client]:
    with home.console() as client:
        yield client


def _figure(html: str, chart: str) -> str:
    found = re.search(rf'<figure class="spark" id="spark-{chart}">(.*?)</figure>', html, re.S)
    assert found, f"no {chart} sparkline"
    return found.group(1)


def _bars(figure: str) -> list[str]:
    return re.findall(r"<rect [^>]*><title>([^<]*)</title></rect>", figure)


def test_sparklines_count_the_planted_rows(console: httpx.Client) -> None:
    html = console.get("/console").text
    episodes = _figure(html, "episodes")
    assert 'role="img"' in episodes
    peak = f"{HOUR - timedelta(hours=5):%H:%M} UTC"
    assert f'aria-label="Episodes recorded, last 24 hours: 7 episodes; peak 7 at {peak}"' in (
        episodes
    )
    assert _bars(episodes) == [f"{_span(5)}: 7 episodes"]

    assert _bars(_figure(html, "compiles")) == [f"{_span(3)}: 2 jobs"]

    deliveries = _figure(html, "deliveries")
    assert "3 delivered, 1 failed or dead-lettered" in deliveries
    assert _bars(deliveries) == [
        f"{_span(2)}: 3 delivered",
        f"{_span(2)}: 1 failed or dead-lettered",
    ]
    # Stacked: the failed bar sits on top of the delivered one, 3:1, filling the height.
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"><title>', deliveries)]
    assert heights == [30.0, 10.0]

    # The pending job waits from 4 h ago: at the end of that hour and of every hour since
    # (one more bar if the clock passed an hour since this module was imported).
    queue = _figure(html, "queue")
    waiting = _bars(queue)
    assert waiting[:5] == [f"{_span(back)}: 1 waiting" for back in range(4, -1, -1)]
    assert len(waiting) <= 6 and all(bar.endswith(": 1 waiting") for bar in waiting)
    assert "now 1 waiting" in queue and "not yet started" in queue


def test_schema_card_lists_the_newest_migrations_and_flags_drift(
    home: ConsoleServer, console: httpx.Client
) -> None:
    html = console.get("/console").text
    audit = re.search(r'<table id="migration-audit">(.*?)</table>', html, re.S)
    assert audit, "no migration audit on the Schema card"
    revisions = re.findall(r"<tr[^>]*><td><code>([^<]+)</code>", audit.group(1))
    assert [r[:4] for r in revisions] == ["0012", "0011", "0010", "0009", "0008"]
    assert "<time datetime=" in audit.group(1)  # applied: relative, exact on hover
    assert f"<td>{__version__}</td>" in audit.group(1)  # by which release
    assert "badge-drift" not in html and 'id="checksum-drift"' not in html

    where = "WHERE revision = '0011_add_resolutions_table'"
    recorded = home.sql(f"SELECT checksum FROM statewave_migration_audit {where}")
    home.sql(f"UPDATE statewave_migration_audit SET checksum = repeat('0', 64) {where}")
    drifted = console.get("/console").text
    assert 'id="checksum-drift"' in drifted and "0011_add_resolutions_table" in drifted
    assert re.search(r'<tr class="drift"><td><code>0011_add_resolutions_table</code>', drifted)
    assert "Checksum drift: 0011_add_resolutions_table" in drifted  # the attention strip
    home.sql(f"UPDATE statewave_migration_audit SET checksum = '{recorded}' {where}")


def test_webhook_header_card(console: httpx.Client) -> None:
    html = console.get("/console/webhooks").text
    card = re.search(r'<section class="card" id="endpoint-card".*?</section>', html, re.S)
    assert card, "no header card"
    text = card.group(0)
    assert '<code id="endpoint">http://127.0.0.1:9/statewave-hook</code>' in text
    assert "badge-on" in text  # a webhook secret is configured
    assert "<strong>75.0%</strong>" in text and "3 delivered of 4" in text
    assert f'datetime="{_hour(2, 7).isoformat()}"' in text  # last success
    assert f'datetime="{_hour(2, 30).isoformat()}"' in text  # last failure


def test_signing_off_without_a_secret(console_server: ConsoleServer) -> None:
    with console_server.console() as client:
        html = client.get("/console/webhooks").text
    assert re.search(r'id="signing"><span class="badge badge-off">off</span>', html)


def test_search_redirects_to_the_one_match(console: httpx.Client) -> None:
    cases = {
        "spark-1": "/console/subjects/spark-1",
        "acme-beta": "/console/subjects/acme-beta",
        JOB_PENDING: f"/console/jobs/{JOB_PENDING}",
        JOB_PENDING[:8]: f"/console/jobs/{JOB_PENDING}",
        JOB_PENDING[:8].upper(): f"/console/jobs/{JOB_PENDING}",
        str(EVENT_DELIVERED): f"/console/webhooks/{EVENT_DELIVERED}",
        str(EVENT_DELIVERED)[:8]: f"/console/webhooks/{EVENT_DELIVERED}",
        EVENT_DELIVERED.hex: f"/console/webhooks/{EVENT_DELIVERED}",  # undashed spelling
    }
    for query, page in cases.items():
        found = console.get("/console/search", params={"q": f" {query} "})
        assert found.status_code == 303, query
        assert found.headers["location"] == page, query
        assert console.get(page).status_code == 200


def test_search_tries_ids_before_text(console: httpx.Client) -> None:
    # A subject id contains the job's short id: the id wins; other text finds the subject.
    by_id = console.get("/console/search", params={"q": JOB_PENDING[:8]})
    assert by_id.headers["location"] == f"/console/jobs/{JOB_PENDING}"
    by_text = console.get("/console/search", params={"q": "ref-"})
    assert by_text.headers["location"] == f"/console/subjects/ref-{JOB_PENDING[:8]}"


def test_search_lists_several_matches(console: httpx.Client) -> None:
    # "acme-alpha" names a subject in two tenants; "acme" three subjects.
    both = console.get("/console/search", params={"q": "acme-alpha"})
    assert both.status_code == 200
    assert 'id="search-subjects"' in both.text and "2 match(es)" in both.text
    assert 'href="/console/subjects/acme-alpha?tenant_id=t2"' in both.text
    assert 'href="/console/subjects/acme-alpha"' in both.text
    several = console.get("/console/search", params={"q": "acme"})
    assert "3 match(es)" in several.text and "acme-beta" in several.text
    # The box keeps what was typed.
    assert 'id="topbar-q" placeholder="Subject, job or event id" value="acme"' in several.text


@pytest.mark.parametrize(
    "query",
    ["nothing-like-this", "%", "_", "%%_%", "x" * 5000, "'; DROP TABLE episodes; --", "\x00", "ä"],
)
def test_search_finds_nothing_as_html(console: httpx.Client, query: str) -> None:
    page = console.get(f"/console/search?q={quote(query)}")
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="search-none"' in page.text


def test_empty_search_explains_the_box(console: httpx.Client) -> None:
    page = console.get("/console/search")
    assert page.status_code == 200 and 'id="search-empty"' in page.text


def test_every_page_has_the_search_box_and_icon(console: httpx.Client) -> None:
    for path in ("/console", "/console/subjects", "/console/jobs", "/console/webhooks"):
        html = console.get(path).text
        assert '<form method="get" action="/console/search" role="search"' in html, path
        assert '<link rel="icon" href="/favicon.ico"' in html, path


def test_favicon_is_public_and_cacheable(home: ConsoleServer) -> None:
    anonymous = httpx.get(f"{home.base_url}/favicon.ico")  # a key is set; no key, no cookie
    assert anonymous.status_code == 200
    assert anonymous.headers["content-type"] == "image/vnd.microsoft.icon"
    assert anonymous.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "public" in anonymous.headers["cache-control"]
    # Everything else outside the console still needs the key.
    assert httpx.get(f"{home.base_url}/admin/dashboard").status_code == 401
