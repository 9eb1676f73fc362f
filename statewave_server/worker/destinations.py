"""Where webhooks may be delivered: the destination policy, checked at every attempt.

The host of ``STATEWAVE_WEBHOOK_URL`` is resolved and **every** address it resolves to is
checked (a name that also points at a forbidden address is refused as a whole):

* link-local (169.254.0.0/16 — cloud metadata services — and fe80::/10), unspecified,
  multicast and reserved addresses: always refused;
* loopback (127.0.0.0/8, ::1): allowed unless ``STATEWAVE_WEBHOOK_ALLOW_LOOPBACK=false``
  (a receiver on the same host is a deliberate operator choice);
* every other non-global address (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, …):
  refused unless ``STATEWAVE_WEBHOOK_ALLOW_PRIVATE=true``.

The request then goes to an address that was checked (the URL's name is kept for the
``Host`` header and TLS; the next address is tried when one refuses the connection), so
the name cannot be re-resolved elsewhere in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """The webhook URL points at an address the policy forbids."""


@dataclass(frozen=True)
class DestinationPolicy:
    allow_private: bool = False
    allow_loopback: bool = True

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:
            return None if self.allow_loopback else "loopback (STATEWAVE_WEBHOOK_ALLOW_LOOPBACK)"
        if address.is_link_local:
            return "link-local (cloud metadata)"
        if address.is_unspecified or address.is_multicast or address.is_reserved:
            return "unspecified, multicast or reserved"
        if not address.is_global and not self.allow_private:
            return "private (STATEWAVE_WEBHOOK_ALLOW_PRIVATE)"
        return None

    async def resolve(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses to try for ``url``; :class:`DestinationRefused` when any address
        of its host is forbidden. Resolution errors propagate as ``OSError``."""
        addresses = await _addresses(url.host, url.port or (443 if url.scheme == "https" else 80))
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise DestinationRefused(f"{url.host} resolves to {address}: {reason}")
        return addresses


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise OSError(f"{host} did not resolve")
    return list(dict.fromkeys(found))


def pinned_request(
    client: httpx.AsyncClient,
    url: httpx.URL,
    address: IPAddress,
    *,
    content: bytes,
    headers: dict[str, str],
) -> httpx.Request:
    """A POST of ``content`` to ``url`` sent to ``address``, with the URL's host kept for
    ``Host`` and (for https) the TLS server name and certificate check."""
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return client.build_request(
        "POST",
        url.copy_with(host=str(address)),
        content=content,
        headers={**headers, "Host": url.netloc.decode("ascii")},
        extensions=extensions,
    )
