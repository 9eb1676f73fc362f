"""What a real uvicorn answers over real sockets: loopback-only without a key, Host and
CORS checks, forwarded headers from an untrusted loopback peer, stalled uploads and
headers; ``statewave serve``'s bind address."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.server import RunningServer, api_env, free_port, running_server

pytestmark = pytest.mark.slow

KEY = "network-test-key"


def _runbook_command(port: int, host: str = "0.0.0.0") -> list[str]:
    """The runbook's literal ``uvicorn server.app:app --host 0.0.0.0`` (uvicorn defaults:
    proxy headers on, ``X-Forwarded-For`` believed from loopback)."""
    return [sys.executable, "-m", "uvicorn", "server.app:app", "--host", host, "--port", str(port)]


def _non_loopback_address() -> str:
    """An address of this machine that is not loopback (the route a LAN peer would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        if os.environ.get("CI") == "true":
            pytest.fail("this machine has no non-loopback IPv4 address")
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


@pytest.fixture
def open_server(db_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """The runbook command bound to every interface, with no API key."""
    port = free_port()
    env = api_env(db_url)
    with running_server(_runbook_command(port), env, tmp_path / "open.log", port) as server:
        yield server


def _events(server: RunningServer, name: str) -> list[dict[str, object]]:
    lines = (line for line in server.logs().splitlines() if line.startswith("{"))
    return [event for event in map(json.loads, lines) if event.get("event") == name]


def test_without_a_key_only_loopback_clients_are_answered(open_server: RunningServer) -> None:
    port = open_server.base_url.rsplit(":", 1)[1]
    remote = f"http://{_non_loopback_address()}:{port}"
    for path in ("/v1/subjects", "/admin/subjects", "/console", "/ops/migrations", "/healthz"):
        local = httpx.get(f"{open_server.base_url}{path}")
        assert local.status_code == 200, path
        refused = httpx.get(f"{remote}{path}", headers={"Host": "localhost"})
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "loopback_only"
    deleted = httpx.delete(f"{remote}/v1/subjects/s1")
    assert deleted.status_code in (400, 403)  # Host is the LAN address: refused either way
    warnings = _events(open_server, "no_api_key_loopback_only")
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "STATEWAVE_API_KEY" in str(warnings[0]["message"])


def test_rebound_host_names_and_foreign_origins_get_nothing(open_server: RunningServer) -> None:
    base = open_server.base_url
    rebound = httpx.get(f"{base}/admin/subjects", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400
    assert rebound.json()["error"]["code"] == "invalid_host"
    evil = {"Origin": "https://evil.example"}
    preflight = httpx.options(
        f"{base}/v1/subjects/s1", headers={**evil, "Access-Control-Request-Method": "DELETE"}
    )
    export = httpx.get(f"{base}/admin/subjects", headers=evil)
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in export.headers


def test_forwarded_for_from_an_untrusted_loopback_peer_is_not_believed(
    db_url: str, tmp_path: Path
) -> None:
    """uvicorn itself believes ``X-Forwarded-For`` from 127.0.0.1; the app must not."""
    port = free_port()
    env = api_env(
        db_url,
        STATEWAVE_API_KEY=KEY,
        STATEWAVE_RATE_LIMIT_RPM="5",
    )
    command = _runbook_command(port, host="127.0.0.1")
    with running_server(command, env, tmp_path / "xff.log", port) as server:
        statuses = [
            httpx.get(
                f"{server.base_url}/v1/subjects",
                headers={"X-API-Key": KEY, "X-Forwarded-For": f"10.9.0.{i}"},
            ).status_code
            for i in range(8)
        ]
        guess = httpx.get(
            f"{server.base_url}/v1/subjects",
            headers={"X-API-Key": "guess", "X-Forwarded-For": "203.0.113.77"},
        )
    assert statuses == [200] * 5 + [429] * 3
    assert guess.status_code == 403
    failures = _events(server, "auth_failed")
    assert [event["client"] for event in failures] == ["127.0.0.1"]
    started = {event["client"] for event in _events(server, "request_started")}
    assert started == {"127.0.0.1"}


def _stalled_upload(port: int) -> socket.socket:
    """A POST announcing 10 MB that sends 60 KB of it and then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        "POST /v1/episodes HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"subject_id": "' + b"x" * 60_000)
    return sock


def _answer(sock: socket.socket, deadline: float) -> tuple[int | None, bool]:
    """The status the server answered with (None if none) and whether it then closed."""
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return (int(received.split(b" ", 2)[1]) if received else None), True
        if not chunk:
            return (int(received.split(b" ", 2)[1]) if received else None), True
        received += chunk
    return (int(received.split(b" ", 2)[1]) if received else None), False


def test_stalled_uploads_are_cut_off_while_others_are_served(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = api_env(
        db_url,
        STATEWAVE_BODY_TIMEOUT_SECONDS="3",
        STATEWAVE_MAX_CONCURRENT_UPLOADS="20",
    )
    command = _runbook_command(port, host="127.0.0.1")
    with running_server(command, env, tmp_path / "stall.log", port) as server:
        stalled = [_stalled_upload(port) for _ in range(200)]
        try:
            health = httpx.get(f"{server.base_url}/healthz", timeout=30)
            episode = httpx.post(
                f"{server.base_url}/v1/episodes",
                json={
                    "subject_id": "during-stall",
                    "source": "user",
                    "type": "message",
                    "payload": {"text": "still served"},
                },
                timeout=30,
            )
            deadline = time.monotonic() + 60  # a bound, not a measurement: none may hang
            answers = [_answer(sock, deadline) for sock in stalled]
        finally:
            for sock in stalled:
                sock.close()
    assert health.status_code == 200
    assert episode.status_code == 201
    statuses = [status for status, _ in answers]
    assert all(closed for _, closed in answers), "a stalled upload was left open"
    assert set(statuses) == {408, 503}
    assert 1 <= statuses.count(408) <= 20  # only the uploads holding a slot waited


def _stalled_headers(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/episodes HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    return sock


def test_serve_binds_loopback_and_cuts_off_slow_headers(db_url: str, tmp_path: Path) -> None:
    """``statewave serve`` without a key listens on 127.0.0.1 only, and a client that never
    finishes its headers is disconnected (uvicorn alone would wait forever)."""
    port = free_port()
    env = api_env(
        db_url,
        STATEWAVE_HEADER_TIMEOUT_SECONDS="2",
    )
    command = [sys.executable, "-m", "statewave_server", "serve", "--port", str(port)]
    with running_server(command, env, tmp_path / "serve.log", port) as server:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{_non_loopback_address()}:{port}/healthz")
        stalled = [_stalled_headers(port) for _ in range(50)]
        try:
            health = httpx.get(f"{server.base_url}/healthz", timeout=30)
            deadline = time.monotonic() + 60  # a bound, not a measurement
            answers = [_answer(sock, deadline) for sock in stalled]
        finally:
            for sock in stalled:
                sock.close()
    assert health.status_code == 200
    assert all(closed for _, closed in answers), "a connection with stalled headers stayed open"
