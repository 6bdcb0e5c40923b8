"""Transparent interception: where a redirected connection was really going.

Inside the app's network namespace an iptables rule such as::

    iptables -t nat -A OUTPUT -p tcp --dport 80 -m owner ! --uid-owner proxy \\
        -j REDIRECT --to-ports 15001

sends the app's connections to the outbound listener; the kernel keeps the
address the app dialled, which ``getsockopt(SOL_IP, SO_ORIGINAL_DST)`` returns.
The outbound stage routes by that address when it is a known endpoint of a
route, else by the Host header as for explicit proxying. The ``! --uid-owner``
exclusion (the proxy's own upstream connections must not loop back) is the
operator's part of the rule.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from proxy.config import Endpoint, Route

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
_SOCKADDR_IN = struct.Struct("!2xH4s8x")


def original_destination(sock: socket.socket | None) -> Endpoint | None:
    """The pre-REDIRECT destination of an accepted IPv4 connection, or None when the
    connection was not redirected (or the platform cannot say)."""
    if sock is None or sock.family != socket.AF_INET:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, _SOCKADDR_IN.size)
    except OSError:  # ENOENT: no conntrack entry, i.e. not redirected; or not Linux
        return None
    port, packed = _SOCKADDR_IN.unpack(raw[:_SOCKADDR_IN.size])
    original = Endpoint(socket.inet_ntoa(packed), port)
    local = sock.getsockname()
    if (original.host, original.port) == (local[0], local[1]):
        return None  # dialled the listener itself: explicit proxying
    return original


class OriginalDestinations:
    """Route host by endpoint address, for connections that arrive redirected."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._hosts: dict[Endpoint, str] = {}
        for route in routes:
            for endpoint in route.parsed_endpoints():
                self._hosts.setdefault(endpoint, route.host.lower())

    def host_for(self, destination: Endpoint | None) -> str | None:
        """The route host whose endpoint the app dialled, or None (then Host decides)."""
        return self._hosts.get(destination) if destination is not None else None
