"""A webhook event's page: endpoint, subject, payload, error; the list links to it."""

from __future__ import annotations

import uuid

from tests.console.conftest import ConsoleServer


def test_event_page_shows_endpoint_subject_and_payload(console_server: ConsoleServer) -> None:
    event_id = console_server.sql(
        "UPDATE webhook_events SET status = 'dead_letter', attempts = max_attempts, "
        "last_error = 'ConnectError: refused', http_status = 503 WHERE id = (SELECT id "
        "FROM webhook_events WHERE payload->'data'->>'subject_id' IS NOT NULL "
        "ORDER BY created_at LIMIT 1) RETURNING id"
    ).splitlines()[0]
    subject = console_server.sql(
        f"SELECT payload->'data'->>'subject_id' FROM webhook_events WHERE id = '{event_id}'"
    )
    with console_server.console() as console:
        listed = console.get("/console/webhooks", params={"status": "dead_letter"}).text
        assert f'href="/console/webhooks/{event_id}"' in listed
        assert '<code id="endpoint">http://127.0.0.1:9/statewave-hook</code>' in listed
        assert f">{subject}</a>" in listed
        page = console.get(f"/console/webhooks/{event_id}")
        assert page.status_code == 200
        assert "http://127.0.0.1:9/statewave-hook" in page.text
        assert '<pre id="event-error">ConnectError: refused</pre>' in page.text
        assert f"&#34;subject_id&#34;: &#34;{subject}&#34;" in page.text
        assert 'id="redrive-event"' in page.text
        missing = console.get(f"/console/webhooks/{uuid.uuid4()}")
        assert missing.status_code == 404 and "<html" in missing.text
