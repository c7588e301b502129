"""Forwarded headers from trusted reverse proxies only.

A TLS-terminating proxy in front of carbontwin tells the app the client's
scheme and address in ``X-Forwarded-Proto`` and ``X-Forwarded-For``. Anyone can
send those headers, so they are believed only when the direct peer is one of
``Settings.trusted_proxies`` (addresses or CIDR networks); from every other
peer they are ignored and the connection's own scheme and address count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["TrustedProxyHeaders", "is_loopback"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a peer address) is a loopback address (127.0.0.0/8, ::1)."""
    addr = _address(host or "")
    return addr is not None and addr.is_loopback


class TrustedProxyHeaders:
    """ASGI middleware: scheme and client from forwarded headers of trusted peers.

    The nearest proxy appends to ``X-Forwarded-For`` and sets the last
    ``X-Forwarded-Proto`` value, so the last entry of each is taken.
    """

    def __init__(self, app: Any, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = _networks(trusted)

    def _trusts(self, client: Any) -> bool:
        if not client:
            return False
        addr = _address(str(client[0]))
        return addr is not None and any(addr in net for net in self.trusted)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self._trusts(scope.get("client")):
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
            scope = dict(scope)
            if proto in ("http", "https", "ws", "wss"):
                ws = scope["type"] == "websocket"
                scope["scheme"] = {"https": "wss", "http": "ws"}.get(proto, proto) if ws else proto
            forwarded_for = headers.get("x-forwarded-for", "").split(",")[-1].strip()
            if _address(forwarded_for) is not None:
                scope["client"] = (forwarded_for, 0)
        await self.app(scope, receive, send)
