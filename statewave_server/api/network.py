"""Who is on the other end of a request, and whether this server may answer them at all.

* :class:`PeerMiddleware` (outermost) fixes ``scope["client"]`` and ``scope["scheme"]``:
  the TCP peer as the server's transport saw it (undoing uvicorn's own ``X-Forwarded-*``
  rewrite, which by default believes any loopback peer), then — only when that peer is in
  ``STATEWAVE_TRUSTED_PROXIES`` — the client and scheme the proxy reports. Everything after
  it (rate limits, logs, console cookies) reads the result.
* :class:`AllowedHostsMiddleware` refuses unknown ``Host`` headers (DNS rebinding).
* :class:`LoopbackOnlyMiddleware` refuses every non-loopback client when no API key is set.
* :func:`cors_middleware` never lets a wildcard origin reach admin, ops or console routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from pydantic import IPvAnyNetwork
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from statewave_server.api.asgi import header, peer_host, reject

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Operator surfaces: a wildcard CORS origin never applies to them.
OPERATOR_PREFIXES = ("/admin", "/ops", "/console")
_FORWARDED_PROTOS = frozenset({"http", "https"})


def _parse_ip(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address, trusted: tuple[IPvAnyNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_ip(scope: Scope, trusted: tuple[IPvAnyNetwork, ...]) -> str:
    """The client address: the direct peer, or — only when that peer is a trusted proxy —
    the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    peer = peer_host(scope)
    peer_ip = _parse_ip(peer)
    if not trusted or peer_ip is None or not _is_trusted(peer_ip, trusted):
        return peer
    hops = [
        hop
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    chosen = peer_ip
    for hop in reversed(hops):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            break  # garbage before a trusted hop: keep the last address we can vouch for
        chosen = hop_ip
        if not _is_trusted(hop_ip, trusted):
            break
    return str(chosen)


def is_loopback(client: Any) -> bool:
    """True for a loopback peer; also for none at all (a Unix socket, an in-process call)."""
    if not client:
        return True
    address = _parse_ip(str(client[0]))
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def _transport(receive: Receive) -> Any:
    """The asyncio transport behind uvicorn's ``receive`` (its request cycle keeps it), or
    None under other servers and in-process test transports."""
    return getattr(getattr(receive, "__self__", None), "transport", None)


class PeerMiddleware:
    """Sets the real client and scheme; only ``trusted_proxies`` may forward them."""

    def __init__(self, app: ASGIApp, trusted_proxies: tuple[IPvAnyNetwork, ...] = ()) -> None:
        self.app = app
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self._resolve(scope, receive)
        await self.app(scope, receive, send)

    def _resolve(self, scope: Scope, receive: Receive) -> None:
        transport = _transport(receive)
        if transport is not None and hasattr(transport, "get_extra_info"):
            peername = transport.get_extra_info("peername")
            if isinstance(peername, tuple) and len(peername) >= 2:
                scope["client"] = (str(peername[0]), int(peername[1]))
            scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
            websocket = scope["type"] == "websocket"
            scope["scheme"] = scheme.replace("http", "ws") if websocket else scheme
        peer = _parse_ip(peer_host(scope))
        if not self.trusted or peer is None or not _is_trusted(peer, self.trusted):
            return
        client = client_ip(scope, self.trusted)
        if client != str(peer):
            scope["client"] = (client, 0)
        proto = (header(scope, b"x-forwarded-proto") or b"").decode("latin-1")
        last = proto.rsplit(",", 1)[-1].strip().lower()
        if last in _FORWARDED_PROTOS and scope["type"] == "http":
            scope["scheme"] = last


def host_name(raw: bytes) -> str:
    """The host part of a ``Host`` header, lower-case, without port or trailing dot."""
    value = raw.decode("latin-1").strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def host_allowed(name: str, allowed: Iterable[str]) -> bool:
    """``*`` allows any host; ``*.example.com`` allows its subdomains."""
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class AllowedHostsMiddleware:
    """400 ``invalid_host`` for a ``Host`` header outside the allowed names."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(pattern.strip().lower().rstrip(".") for pattern in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = header(scope, b"host") if scope["type"] in ("http", "websocket") else None
        if raw is not None and not host_allowed(host_name(raw), self.allowed):
            await reject(
                scope,
                receive,
                send,
                400,
                "invalid_host",
                "This Host header is not served here; add the name to STATEWAVE_ALLOWED_HOSTS.",
            )
            return
        await self.app(scope, receive, send)


class LoopbackOnlyMiddleware:
    """403 ``loopback_only`` for every client not on this machine (used without an API key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not is_loopback(scope.get("client")):
            await reject(
                scope,
                receive,
                send,
                403,
                "loopback_only",
                "No API key is configured, so this server answers loopback clients only; "
                "set STATEWAVE_API_KEY to serve the network.",
            )
            return
        await self.app(scope, receive, send)


class _OperatorScopedCORS:
    """Wildcard CORS for the API, explicit origins only on operator routes."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        explicit = tuple(origin for origin in origins if origin != "*")
        self.open = _cors(app, origins)
        self.operator = _cors(app, explicit) if explicit else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        operator = any(path == p or path.startswith(p + "/") for p in OPERATOR_PREFIXES)
        await (self.operator if operator else self.open)(scope, receive, send)


def _cors(app: ASGIApp, origins: tuple[str, ...]) -> ASGIApp:
    # Credentials only with explicit origins: a wildcard would reflect any site's origin.
    return CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_credentials="*" not in origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )


def cors_middleware(app: ASGIApp, origins: tuple[str, ...]) -> ASGIApp:
    """CORS for ``origins``; a ``*`` among them never covers operator routes."""
    if "*" in origins:
        return _OperatorScopedCORS(app, origins)
    return _cors(app, origins)
