"""uvicorn's HTTP protocol with a deadline for request headers (slow-header attacks).

uvicorn times out idle keep-alive connections but not a client that trickles its headers:
each byte cancels the idle timer. ``statewave serve`` and ``./start.sh`` run uvicorn with
this protocol (``--http statewave_server.http_protocol:HeaderTimeoutProtocol``), which
closes a connection whose request headers are not complete within
``STATEWAVE_HEADER_TIMEOUT_SECONDS`` of the connection opening or the request starting.
Bodies have their own deadline in the application (``api/limits.py``).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from statewave_server.settings import get_settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """Closes the connection when a request's headers take longer than the deadline."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        timeout = get_settings().header_timeout_seconds
        self._header_timer = self.loop.call_later(timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
