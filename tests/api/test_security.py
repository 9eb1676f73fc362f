"""Edge security: API key, tenant header, rate limiting, trusted proxies, CORS, tracing.

In-process (ASGI transport, chosen peer address); the same rules over real sockets and a
real uvicorn are in ``test_network_exposure.py``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Request
from pydantic import Field, SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from statewave_server import telemetry
from statewave_server.api.deps import TenantId
from statewave_server.api.limits import BodyLimitMiddleware
from statewave_server.api.middleware import RequestContextMiddleware
from statewave_server.api.network import PeerMiddleware, client_ip
from statewave_server.api.rate_limit import (
    DistributedRateLimiter,
    MemoryRateLimiter,
    RateLimiter,
    RateLimitMiddleware,
)
from statewave_server.api.schema_gate import SchemaGateMiddleware
from statewave_server.api.security import (
    APIKeyMiddleware,
    SecuritySettings,
    TenantMiddleware,
    api_key_matches,
)
from statewave_server.app import create_app
from statewave_server.console.gate import ConsoleGateMiddleware
from statewave_server.db.engine import Database
from statewave_server.mcp.http import McpRefusals
from statewave_server.settings import Settings

KEY = "s3cret-key"
DEAD_URL = "postgresql+asyncpg://nobody:nothing@127.0.0.1:1/nowhere"


@asynccontextmanager
async def serve(
    db_url: str,
    security: SecuritySettings,
    *,
    limiter: RateLimiter | None = None,
    peer: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The full app with the given edge security and a route echoing the tenant, seen
    from ``peer`` (a non-loopback peer needs an API key, or it is refused)."""
    settings = Settings(database_url=db_url, run_worker_in_process=False, **overrides)
    database = Database.from_settings(settings)
    app = create_app(settings, database, security=security, rate_limiter=limiter)

    @app.get("/test/tenant")
    async def echo_tenant(tenant: TenantId) -> dict[str, str]:
        return {"tenant": tenant}

    @app.get("/test/peer")
    async def echo_peer(request: Request) -> dict[str, str]:
        return {
            "client": request.client.host if request.client else "",
            "scheme": request.url.scheme,
        }

    installed: RateLimiter | None = app.state.rate_limiter
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 123))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers=headers
        ) as http:
            yield http
    finally:
        if installed is not None:
            await installed.aclose()
        await database.dispose()


# --- API key -------------------------------------------------------------------------


def test_key_check_helper() -> None:
    assert api_key_matches(b"abc", b"abc")
    assert not api_key_matches(b"abd", b"abc")
    assert not api_key_matches(b"ab", b"abc")
    assert not api_key_matches(b"", b"abc")


async def test_no_key_configured_means_loopback_only(db_url: str) -> None:
    async with serve(db_url, SecuritySettings()) as http:
        local = await http.get("/test/tenant")
    assert local.status_code == 200
    for peer in ("198.51.100.7", "10.0.0.5", "2001:db8::1", "::ffff:192.0.2.1"):
        async with serve(db_url, SecuritySettings(), peer=peer) as http:
            statuses = {p: (await http.get(p)).status_code for p in ("/test/tenant", "/healthz")}
            admin = await http.get("/admin/subjects")
            console = await http.get("/console")
        assert statuses == {"/test/tenant": 403, "/healthz": 403}, peer
        assert admin.status_code == console.status_code == 403
        error = admin.json()["error"]
        assert error["code"] == "loopback_only"
        assert "STATEWAVE_API_KEY" in error["message"]
    async with serve(db_url, SecuritySettings(), peer="::ffff:127.0.0.1") as http:
        assert (await http.get("/test/tenant")).status_code == 200
    keyed = SecuritySettings(api_key=SecretStr(KEY))
    async with serve(db_url, keyed, peer="198.51.100.7", headers={"X-API-Key": KEY}) as http:
        assert (await http.get("/test/tenant")).status_code == 200


async def test_host_header_must_be_allowed(db_url: str) -> None:
    """DNS rebinding: without a key only loopback names; with a key any unless configured."""
    async with serve(db_url, SecuritySettings()) as http:
        names = ("localhost", "127.0.0.1:8100", "[::1]:8100", "LOCALHOST.", "evil.example")
        statuses = {
            h: (await http.get("/admin/subjects", headers={"Host": h})).status_code for h in names
        }
        rebound = await http.get("/test/tenant", headers={"Host": "attacker.example:8100"})
    assert statuses == {
        "localhost": 200,
        "127.0.0.1:8100": 200,
        "[::1]:8100": 200,
        "LOCALHOST.": 200,
        "evil.example": 400,
    }
    assert rebound.json()["error"]["code"] == "invalid_host"
    async with serve(
        db_url, SecuritySettings(api_key=SecretStr(KEY)), headers={"X-API-Key": KEY}
    ) as http:
        assert (await http.get("/test/tenant", headers={"Host": "api.example"})).status_code == 200
    configured = SecuritySettings(
        api_key=SecretStr(KEY), allowed_hosts=("api.example", "*.corp.example")
    )
    async with serve(db_url, configured, headers={"X-API-Key": KEY}) as http:
        hosts = ("api.example", "a.corp.example", "corp.example", "other.example")
        got = {h: (await http.get("/test/tenant", headers={"Host": h})).status_code for h in hosts}
    assert got == {
        "api.example": 200,
        "a.corp.example": 200,
        "corp.example": 400,
        "other.example": 400,
    }


def test_empty_api_key_means_no_key() -> None:
    security = SecuritySettings.from_settings(Settings(api_key=SecretStr("")))
    assert security.api_key is None
    assert security.effective_allowed_hosts == ("localhost", "127.0.0.1", "::1")
    assert Settings(api_key=SecretStr("")).bind_host == "127.0.0.1"
    assert Settings(api_key=SecretStr("k")).bind_host == "0.0.0.0"
    assert Settings(api_key=SecretStr("k"), host="10.1.2.3").bind_host == "10.1.2.3"


async def test_api_key_enforced_except_on_public_paths(db_url: str) -> None:
    async with serve(db_url, SecuritySettings(api_key=SecretStr(KEY))) as http:
        missing = await http.get("/test/tenant")
        wrong = await http.get("/test/tenant", headers={"X-API-Key": "nope"})
        right = await http.get("/test/tenant", headers={"X-API-Key": KEY})
        in_query = await http.get("/test/tenant", params={"api_key": KEY})
        migrations = await http.get("/ops/migrations")
        verbose = await http.get("/ops/migrations", params={"verbose": "true"})
        public = {p: (await http.get(p)).status_code for p in ("/healthz", "/health", "/docs")}
        schema = await http.get("/openapi.json")

    assert missing.status_code == 401
    error = missing.json()["error"]
    assert (error["code"], error["message"]) == ("missing_api_key", "X-API-Key header is required.")
    assert error["request_id"] == missing.headers["X-Request-ID"]
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200
    assert in_query.status_code == 401  # the key is never taken from the query string
    assert migrations.status_code == 200  # revision ids only: the runbook's plain curl
    assert verbose.status_code == 401  # history and the lock holder's address need the key
    assert public == {"/healthz": 200, "/health": 200, "/docs": 200}
    assert schema.status_code == 200


# --- Tenant ----------------------------------------------------------------------------


async def test_tenant_is_echoed_and_defaults_to_empty(db_url: str) -> None:
    async with serve(db_url, SecuritySettings(tenant_header="X-Org")) as http:
        given = await http.get("/test/tenant", headers={"X-Org": "acme"})
        absent = await http.get("/test/tenant")
        default_header_ignored = await http.get("/test/tenant", headers={"X-Tenant-ID": "x"})
    assert given.json() == {"tenant": "acme"}
    assert absent.json() == {"tenant": ""}
    assert default_header_ignored.json() == {"tenant": ""}


async def test_required_tenant_rejects_missing_header_except_public_paths(db_url: str) -> None:
    async with serve(db_url, SecuritySettings(require_tenant=True)) as http:
        missing = await http.get("/test/tenant")
        migrations = await http.get("/ops/migrations")
        health = await http.get("/healthz")
        ok = await http.get("/test/tenant", headers={"X-Tenant-ID": "t1"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_tenant"
    assert missing.json()["error"]["message"] == "X-Tenant-ID header is required."
    assert migrations.status_code == 400
    assert health.status_code == 200
    assert ok.json() == {"tenant": "t1"}


@pytest.mark.parametrize(
    "value", [b"a" * 257, b"bad\x7fvalue", b" padded", b"tab\there", b"\xff\xfe"]
)
async def test_invalid_tenant_is_rejected(db_url: str, value: bytes) -> None:
    async with serve(db_url, SecuritySettings()) as http:
        response = await http.get("/test/tenant", headers={"X-Tenant-ID": value})
        longest = await http.get("/test/tenant", headers={"X-Tenant-ID": ("é" * 256).encode()})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_tenant"
    assert longest.json() == {"tenant": "é" * 256}


async def test_duplicate_tenant_header_is_rejected(db_url: str) -> None:
    """A gateway appending the authenticated tenant must not lose to the client's copy."""
    async with serve(db_url, SecuritySettings()) as http:
        twice = await http.get("/test/tenant", headers=[("X-Tenant-ID", "b"), ("X-Tenant-ID", "a")])
        same = await http.get("/test/tenant", headers=[("X-Tenant-ID", "a"), ("x-tenant-id", "a")])
        once = await http.get("/test/tenant", headers={"X-Tenant-ID": "a"})
    assert twice.status_code == same.status_code == 400
    assert twice.json()["error"]["code"] == "duplicate_tenant"
    assert twice.json()["error"]["message"] == "X-Tenant-ID must be sent once."
    assert once.json() == {"tenant": "a"}


# --- Guessing API keys ----------------------------------------------------------------


async def test_wrong_api_keys_are_throttled_per_client(db_url: str) -> None:
    security = SecuritySettings(api_key=SecretStr(KEY), auth_failure_limit=3)
    async with serve(db_url, security, peer="198.51.100.20") as guesser:
        guesses = [
            (await guesser.get("/test/tenant", headers={"X-API-Key": f"guess{i}"})).status_code
            for i in range(6)
        ]
        right_key = await guesser.get("/test/tenant", headers={"X-API-Key": KEY})
        no_key = await guesser.get("/test/tenant")
    assert guesses == [403, 403, 403, 429, 429, 429]
    # Once blocked even the right key is refused, or the 429/200 difference would be an oracle.
    assert right_key.status_code == 429
    assert right_key.json()["error"]["code"] == "too_many_auth_failures"
    assert 1 <= int(right_key.headers["Retry-After"]) <= 61
    assert no_key.status_code == 401
    async with serve(db_url, security, peer="198.51.100.21") as other:
        assert (await other.get("/test/tenant", headers={"X-API-Key": KEY})).status_code == 200


async def test_failed_console_logins_count_as_wrong_keys(db_url: str) -> None:
    security = SecuritySettings(api_key=SecretStr(KEY), auth_failure_limit=2)
    async with serve(db_url, security, peer="198.51.100.22", api_key=SecretStr(KEY)) as browser:
        form = await browser.get("/console/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        fields = {"csrf_token": token, "api_key": "wrong", "next": "/console"}
        statuses = [
            (await browser.post("/console/login", data=fields)).status_code for _ in range(3)
        ]
        blocked_api = await browser.get("/test/tenant", headers={"X-API-Key": KEY})
    assert statuses == [401, 401, 429]
    assert blocked_api.status_code == 429


# --- Memory rate limiter ---------------------------------------------------------------


async def test_memory_limiter_allows_n_then_429_with_retry_after(db_url: str) -> None:
    async with serve(db_url, SecuritySettings(rate_limit_rpm=3)) as http:
        statuses = [(await http.get("/test/tenant")).status_code for _ in range(3)]
        limited = await http.get("/test/tenant")
        health = [(await http.get(p)).status_code for p in ("/healthz", "/health")]
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"] == "Rate limit exceeded. Max 3 requests per minute."
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert health == [200, 200]


async def test_memory_limiter_slides_and_does_not_count_rejections() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(2, clock=lambda: now[0])
    assert (await limiter.hit("a")).allowed
    now[0] = 1030.0
    assert (await limiter.hit("a")).allowed
    rejected = await limiter.hit("a")
    assert not rejected.allowed
    assert rejected.retry_after == 31  # the 1000.0 hit leaves the window at 1060
    assert (await limiter.hit("b")).allowed  # per key
    now[0] = 1060.5
    assert (await limiter.hit("a")).allowed
    assert not (await limiter.hit("a")).allowed


async def test_unauthenticated_requests_are_not_counted(db_url: str) -> None:
    settings = SecuritySettings(api_key=SecretStr(KEY), rate_limit_rpm=1)
    async with serve(db_url, settings) as http:
        rejected = [(await http.get("/test/tenant")).status_code for _ in range(3)]
        first = await http.get("/test/tenant", headers={"X-API-Key": KEY})
        second = await http.get("/test/tenant", headers={"X-API-Key": KEY})
    assert rejected == [401, 401, 401]
    assert (first.status_code, second.status_code) == (200, 429)


# --- Distributed rate limiter (real PostgreSQL) ---------------------------------------


def _frozen(at: float) -> Callable[[], float]:
    return lambda: at


async def test_distributed_limit_holds_across_two_app_instances(db_url: str) -> None:
    rpm, at = 5, 1_699_999_990.0  # 10 s into a 60 s window
    first = DistributedRateLimiter(rpm, db_url, clock=_frozen(at))
    second = DistributedRateLimiter(rpm, db_url, clock=_frozen(at))
    security = SecuritySettings(
        api_key=SecretStr(KEY), rate_limit_rpm=rpm, rate_limit_strategy="distributed"
    )
    remote = {"peer": "203.0.113.9", "headers": {"X-API-Key": KEY}}
    async with (
        serve(db_url, security, limiter=first, **remote) as a,
        serve(db_url, security, limiter=second, **remote) as b,
    ):
        responses = await asyncio.gather(
            *(client.get("/test/tenant") for _ in range(12) for client in (a, b))
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == rpm
    assert statuses.count(429) == 24 - rpm
    retry_after = {r.headers["Retry-After"] for r in responses if r.status_code == 429}
    assert retry_after == {"50"}  # 10 s into the window
    engine = create_async_engine(db_url)
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT hit_count FROM rate_limit_hits WHERE key = 'ip:203.0.113.9'")
        )
    await engine.dispose()
    assert count == 24  # rejected requests are counted too


async def test_distributed_strategy_uses_the_apps_database(db_url: str) -> None:
    security = SecuritySettings(rate_limit_rpm=100, rate_limit_strategy="distributed")
    async with serve(db_url, security, peer="127.0.0.44") as http:
        response = await http.get("/test/tenant")
    assert response.status_code == 200
    engine = create_async_engine(db_url)
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT sum(hit_count) FROM rate_limit_hits WHERE key = 'ip:127.0.0.44'")
        )
    await engine.dispose()
    assert count == 1


@pytest.fixture
def limiter_warnings() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("statewave.security")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


async def test_distributed_limiter_fails_open_on_a_dead_database(
    db_url: str, limiter_warnings: list[logging.LogRecord]
) -> None:
    limiter = DistributedRateLimiter(1, DEAD_URL)
    security = SecuritySettings(rate_limit_rpm=1, rate_limit_strategy="distributed")
    async with serve(db_url, security, limiter=limiter) as http:
        statuses = [(await http.get("/test/tenant")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    events = [r.msg for r in limiter_warnings if r.levelno == logging.WARNING]
    assert any(
        isinstance(e, dict) and e.get("event") == "rate_limit_store_unavailable" for e in events
    )


# --- Client IP behind proxies ----------------------------------------------------------


def _scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 1), "headers": headers}


def test_client_ip_resolution() -> None:
    trusted = SecuritySettings(trusted_proxies=("10.0.0.0/8", "fd00::/8")).trusted_proxies
    spoof = "1.1.1.1, 2.2.2.2"
    assert client_ip(_scope("192.0.2.1", spoof), trusted) == "192.0.2.1"
    assert client_ip(_scope("10.0.0.1", spoof), trusted) == "2.2.2.2"
    assert client_ip(_scope("10.0.0.1", "1.1.1.1, 2.2.2.2, 10.0.0.7"), trusted) == "2.2.2.2"
    assert client_ip(_scope("10.0.0.1", "10.0.0.9, 10.0.0.8"), trusted) == "10.0.0.9"
    assert client_ip(_scope("10.0.0.1", "garbage, 10.0.0.8"), trusted) == "10.0.0.8"
    assert client_ip(_scope("10.0.0.1"), trusted) == "10.0.0.1"
    assert client_ip(_scope("fd00::1", "2001:db8::5"), trusted) == "2001:db8::5"
    assert client_ip(_scope("10.0.0.1", spoof), ()) == "10.0.0.1"


async def test_forwarded_for_is_only_honoured_from_trusted_proxies(db_url: str) -> None:
    security = SecuritySettings(
        api_key=SecretStr(KEY), rate_limit_rpm=1, trusted_proxies=("10.0.0.0/8",)
    )
    keyed = {"X-API-Key": KEY}
    async with serve(db_url, security, peer="10.0.0.1", headers=keyed) as proxy:
        first = await proxy.get("/test/tenant", headers={"X-Forwarded-For": "5.5.5.5"})
        other_client = await proxy.get("/test/tenant", headers={"X-Forwarded-For": "6.6.6.6"})
        same_client = await proxy.get("/test/tenant", headers={"X-Forwarded-For": "5.5.5.5"})
    assert [first.status_code, other_client.status_code, same_client.status_code] == [
        200,
        200,
        429,
    ]
    async with serve(db_url, security, peer="192.0.2.50", headers=keyed) as direct:
        first = await direct.get("/test/tenant", headers={"X-Forwarded-For": "7.7.7.7"})
        spoofed = await direct.get("/test/tenant", headers={"X-Forwarded-For": "8.8.8.8"})
    assert [first.status_code, spoofed.status_code] == [200, 429]


# --- CORS and ordering -----------------------------------------------------------------


async def test_cors_preflight_answers_the_configured_origin(db_url: str) -> None:
    origin = "https://app.example.com"
    security = SecuritySettings(cors_origins=(origin,), api_key=SecretStr(KEY))
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    async with serve(db_url, security) as http:
        allowed = await http.options("/test/tenant", headers=preflight)
        denied = await http.options(
            "/test/tenant", headers={**preflight, "Origin": "https://evil.example"}
        )
        actual = await http.get("/test/tenant", headers={"Origin": origin})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == origin
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert denied.status_code == 400
    assert actual.status_code == 401  # CORS headers on errors too, so browsers can read them
    assert actual.headers["access-control-allow-origin"] == origin


async def test_no_cors_unless_origins_are_configured(db_url: str) -> None:
    evil = {"Origin": "https://evil.example"}
    preflight = {**evil, "Access-Control-Request-Method": "DELETE"}
    async with serve(db_url, SecuritySettings()) as http:
        options = await http.options("/v1/subjects/s1", headers=preflight)
        export = await http.get("/admin/subjects", headers=evil)
    assert "access-control-allow-origin" not in options.headers
    assert options.status_code == 405
    assert export.status_code == 200
    assert "access-control-allow-origin" not in export.headers


async def test_wildcard_cors_never_covers_operator_routes(db_url: str) -> None:
    origin = "https://app.example"
    security = SecuritySettings(cors_origins=("*", origin))
    preflight = {"Access-Control-Request-Method": "DELETE"}
    async with serve(db_url, security) as http:
        api = await http.get("/test/tenant", headers={"Origin": "https://any.example"})
        evil = {"Origin": "https://evil.example"}
        operator = {
            path: await http.options(path, headers={**evil, **preflight})
            for path in ("/admin/subjects", "/ops/migrations", "/console")
        }
        export = await http.get("/admin/subjects", headers=evil)
        listed = await http.get("/admin/subjects", headers={"Origin": origin})
    assert api.headers["access-control-allow-origin"] == "*"
    assert {p: r.status_code for p, r in operator.items()} == dict.fromkeys(operator, 400)
    assert all("access-control-allow-origin" not in r.headers for r in operator.values())
    assert "access-control-allow-origin" not in export.headers
    assert listed.headers["access-control-allow-origin"] == origin  # explicitly listed


async def test_only_trusted_proxies_set_client_and_scheme(db_url: str) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    untrusted = SecuritySettings()
    async with serve(db_url, untrusted, headers=forwarded) as http:
        direct = (await http.get("/test/peer")).json()
    assert direct == {"client": "127.0.0.1", "scheme": "http"}
    trusted = SecuritySettings(api_key=SecretStr(KEY), trusted_proxies=("127.0.0.1/32",))
    async with serve(db_url, trusted, headers={**forwarded, "X-API-Key": KEY}) as http:
        proxied = (await http.get("/test/peer")).json()
    assert proxied == {"client": "203.0.113.5", "scheme": "https"}


@pytest.mark.parametrize(("forced", "secure"), [(None, False), (True, True), (False, False)])
async def test_console_secure_cookie_can_be_forced(
    db_url: str, forced: bool | None, secure: bool
) -> None:
    async with serve(db_url, SecuritySettings(), console_secure_cookie=forced) as http:
        page = await http.get("/console")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("statewave_console_csrf=")
    assert ("secure" in cookie.lower().split("; ")) is secure


def test_the_app_factory_orders_the_middleware() -> None:
    settings = Settings(run_worker_in_process=False)
    app = create_app(settings, security=SecuritySettings(rate_limit_rpm=5, cors_origins=("*",)))
    names = [getattr(m.cls, "__name__", "") for m in app.user_middleware]
    assert names == [
        McpRefusals.__name__,
        PeerMiddleware.__name__,
        "cors_middleware",
        RequestContextMiddleware.__name__,
        "AllowedHostsMiddleware",
        "LoopbackOnlyMiddleware",
        ConsoleGateMiddleware.__name__,
        APIKeyMiddleware.__name__,
        RateLimitMiddleware.__name__,
        TenantMiddleware.__name__,
        BodyLimitMiddleware.__name__,
        SchemaGateMiddleware.__name__,
    ]
    assert isinstance(app.state.rate_limiter, MemoryRateLimiter)
    keyed = create_app(settings, security=SecuritySettings(api_key=SecretStr(KEY)))
    names = [getattr(m.cls, "__name__", "") for m in keyed.user_middleware]
    assert "LoopbackOnlyMiddleware" not in names
    assert "cors_middleware" not in names  # no CORS unless origins are configured
    assert keyed.state.rate_limiter is None  # no limiter unless a rate is configured


def test_security_settings_from_main_settings() -> None:
    class WithSecurity(Settings):  # the fields the main Settings is to carry
        api_key: SecretStr | None = None
        tenant_header: str = "X-Tenant-ID"
        require_tenant: bool = False
        rate_limit_rpm: int = 0
        rate_limit_strategy: str = "memory"
        trusted_proxies: list[str] = Field(default_factory=list)
        cors_origins: list[str] = Field(default_factory=list)

    settings = WithSecurity(
        api_key=SecretStr("k"),
        require_tenant=True,
        rate_limit_rpm=7,
        rate_limit_strategy="distributed",
        trusted_proxies=["10.0.0.0/8", "2001:db8::1"],
        cors_origins=["https://a.example"],
    )
    security = SecuritySettings.from_settings(settings)
    assert security.api_key is not None and security.api_key.get_secret_value() == "k"
    assert (security.require_tenant, security.rate_limit_rpm) == (True, 7)
    assert security.rate_limit_strategy == "distributed"
    assert [str(n) for n in security.trusted_proxies] == ["10.0.0.0/8", "2001:db8::1/128"]
    assert security.cors_origins == ("https://a.example",)
    plain = SecuritySettings.from_settings(Settings())  # fields not added yet: defaults
    assert plain.api_key is None and plain.rate_limit_rpm == 0


# --- Telemetry (optional OpenTelemetry) ------------------------------------------------


@pytest.fixture
def tracing_reset() -> Iterator[None]:
    yield
    telemetry.shutdown_tracing()


def test_tracing_with_api_but_no_sdk_does_not_crash(tracing_reset: None) -> None:
    pytest.importorskip("opentelemetry.trace")
    if telemetry._import("opentelemetry.sdk.trace") is not None:
        pytest.skip("the OpenTelemetry SDK is installed here")
    assert telemetry.setup_tracing() is False
    with telemetry.span("compile_memories", subject_id="s1", when=None, obj=object()):
        pass
    with pytest.raises(ValueError), telemetry.span("failing"):
        raise ValueError("propagates")


def test_tracing_without_opentelemetry_is_a_noop(
    monkeypatch: pytest.MonkeyPatch, tracing_reset: None
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    assert telemetry.setup_tracing() is False
    with telemetry.span("search_memories", subject_id="s1") as current:
        assert current is None


def test_broken_opentelemetry_never_stops_startup(
    monkeypatch: pytest.MonkeyPatch, tracing_reset: None
) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("misconfigured")

    real_import = telemetry._import
    monkeypatch.setattr(
        telemetry,
        "_import",
        lambda name: Broken() if name.startswith("opentelemetry.sdk") else real_import(name),
    )
    assert telemetry.setup_tracing() is False
    with telemetry.span("assemble_context") as current:
        assert current is None
