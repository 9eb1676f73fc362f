"""The subject page of a large subject: paging, filters, memory search, the context
preview (the exact ``assembled_context`` of ``POST /v1/context``) and one-memory edits."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import TENANT, ConsoleServer, csrf_of

BIG = "big-customer"  # in TENANT
SESSIONS = 6
PER_SESSION = 20  # 120 episodes: more than two pages of 50


def _line(i: int) -> tuple[str, str, str]:
    session = f"b-{i % SESSIONS}"
    if i == 7:
        return session, "user", "Reach me at quinn.baxter@example.org for billing questions."
    return session, "user" if i % 2 else "assistant", f"Message number {i} about order {1000 + i}."


@pytest.fixture(scope="module")
def big(console_server: ConsoleServer) -> ConsoleServer:
    from tests.fixtures.conversation import message_batch

    lines = [_line(i) for i in range(SESSIONS * PER_SESSION)]
    with console_server.api(TENANT) as api:
        batch = message_batch(BIG, lines)
        for start in (0, 60):
            done = api.post("/v1/episodes/batch", json={"episodes": batch[start : start + 60]})
            assert done.status_code == 201, done.text
        compiled = api.post("/v1/memories/compile", json={"subject_id": BIG})
        assert compiled.status_code == 200, compiled.text
    return console_server


@pytest.fixture
def console(big: ConsoleServer) -> Iterator[httpx.Client]:
    with big.console() as client:
        yield client


def _page(client: httpx.Client, **params: str | int) -> str:
    response = client.get(
        f"/console/subjects/{quote(BIG, safe='')}", params={"tenant_id": TENANT, **params}
    )
    assert response.status_code == 200, response.text
    return response.text


def _section(html: str, section: str) -> str:
    start = html.index(f'id="{section}"')
    return html[start : html.index("</section>", start)]


def _episode_ids(html: str) -> set[str]:
    return set(re.findall(r"/episodes/([0-9a-f-]{36})", _section(html, "timeline")))


def _memory_ids(html: str) -> set[str]:
    return set(re.findall(r'class="memory-link" href="[^"]*/memories/([0-9a-f-]{36})', html))


def test_every_episode_and_memory_is_reachable_by_paging(console: httpx.Client) -> None:
    first = _page(console)
    assert "1–50 of 120" in _section(first, "timeline")
    seen: set[str] = set()
    for offset in (0, 50, 100):
        seen |= _episode_ids(_page(console, t_offset=offset))
    assert len(seen) == 120
    memories = _section(first, "memories")
    total = int(re.search(r"Memories <span class=\"muted\">\((\d+)", memories).group(1))  # type: ignore[union-attr]
    assert total > 50
    reached: set[str] = set()
    for offset in range(0, total, 50):
        reached |= _memory_ids(_page(console, m_offset=offset))
    assert len(reached) == total
    past = _page(console, t_offset=500)
    past_timeline = _section(past, "timeline")
    assert "No rows on this page (120 in all)" in past_timeline
    assert "Previous" not in past_timeline  # offset 450 would still be past the end
    assert 't_offset=100#timeline">← Last page</a>' in past_timeline


def test_filters_and_content_search(console: httpx.Client) -> None:
    found = _section(_page(console, m_q="quinn.baxter@example"), "memories")
    assert "quinn.baxter@example.org" in found
    assert 1 <= len(_memory_ids(found)) <= 3  # the fact and the summary quoting it
    assert "order 1002" not in found  # another session's messages
    kinds = _section(_page(console, m_kind="profile_fact"), "memories")
    assert "episode_summary</td>" not in kinds
    by_session = _page(console, t_session="b-1")
    timeline = _section(by_session, "timeline")
    assert "20 episodes in session b-1" in timeline
    assert "in <a" in timeline and ">b-2</a>" not in timeline
    cited = _section(_page(console, m_session="b-3"), "memories")
    assert "Message number 9 " in cited and "Message number 8 " not in cited
    retired = _section(_page(console, m_status="deleted"), "memories")
    assert "No memories match." in retired


def test_context_preview_is_the_api_bundle(console: httpx.Client, big: ConsoleServer) -> None:
    task = "Who handles billing questions?"
    with big.api(TENANT) as api:
        bundle = api.post(
            "/v1/context", json={"subject_id": BIG, "task": task, "max_tokens": 300}
        ).json()
    preview = _section(_page(console, task=task, max_tokens=300), "context-preview")
    shown = re.search(r'<pre id="assembled-context">(.*?)</pre>', preview, re.S)
    assert shown is not None
    assert html_lib.unescape(shown.group(1)) == bundle["assembled_context"]
    assert f"<strong>{bundle['token_estimate']}</strong> of 300 tokens" in preview
    linked = set(
        re.findall(r'class="preview-memory" href="[^"]*/memories/([0-9a-f-]{36})', preview)
    )
    assert linked == {m["id"] for m in bundle["facts"] + bundle["procedures"]}
    bad = console.get(
        f"/console/subjects/{BIG}", params={"tenant_id": TENANT, "task": "x", "max_tokens": 1}
    )
    assert bad.status_code == 422


def _memory_page(console: httpx.Client, text: str) -> tuple[str, str]:
    html = _page(console, m_q=text)
    link = re.search(r'class="memory-link" href="([^"]+)"', html)
    assert link is not None
    url = html_lib.unescape(link.group(1))
    page = console.get(url)
    assert page.status_code == 200
    return url, page.text


def test_retire_and_correct_from_the_memory_page(console: httpx.Client, big: ConsoleServer) -> None:
    url, page = _memory_page(console, "quinn.baxter")
    memory_id = url.split("/memories/")[1].split("?")[0]
    forged = console.post(
        f"/console/memories/{memory_id}/retire",
        data={"tenant_id": TENANT, "reason": "x", "csrf_token": "0" * 64},
    )
    assert forged.status_code == 403
    corrected = console.post(
        f"/console/memories/{memory_id}/correct",
        data={
            "tenant_id": TENANT,
            "content": "Reach me at quinn@example.net for billing questions.",
            "reason": "new address",
            "csrf_token": csrf_of(page),
        },
    )
    assert corrected.status_code == 303
    new_page = console.get(corrected.headers["location"]).text
    assert "quinn@example.net" in new_page and "badge-active" in new_page
    replaced = new_page[new_page.index('id="supersedes"') :].split("</ul>")[0]
    assert "quinn.baxter@example.org" in replaced
    old = console.get(url).text
    assert "badge-superseded" in old and 'id="memory-actions"' not in old
    assert "quinn@example.net" in old[old.index('id="superseded-by"') :].split("</ul>")[0]
    assert '"corrected_by": "console"' in html_lib.unescape(old)
    superseded = _section(_page(console, m_status="superseded"), "memories")
    assert "quinn.baxter@example.org" in superseded

    new_url = corrected.headers["location"]
    empty = console.post(
        f"/console/memories/{new_url.split('/memories/')[1].split('?')[0]}/retire",
        data={"tenant_id": TENANT, "reason": " ", "csrf_token": csrf_of(new_page)},
    )
    assert empty.status_code == 400 and "<html" in empty.text
    retired = console.post(
        f"/console/memories/{new_url.split('/memories/')[1].split('?')[0]}/retire",
        data={"tenant_id": TENANT, "reason": "customer left", "csrf_token": csrf_of(new_page)},
    )
    assert retired.status_code == 303
    assert "badge-deleted" in console.get(retired.headers["location"]).text
    assert "quinn@example.net" not in _section(_page(console, m_status="active"), "memories")
    with big.api(TENANT) as api:
        events = api.get("/admin/webhooks", params={"event_type": "memory.retired"}).json()
    assert events["total"] >= 1
