"""Route stage entry points: the authority of a request, and the route table.

The table itself lives in :mod:`proxy.routing` (matching, version splits,
destinations); balancing in :mod:`proxy.balance`, endpoint health in
:mod:`proxy.health`.
"""

from __future__ import annotations

from functools import lru_cache

from proxy.routing.table import RequestPicks, RouteTable, RouteTarget

__all__ = ["RequestPicks", "RouteTable", "RouteTarget", "host_and_port",
           "split_authority"]


@lru_cache(maxsize=1024)
def host_and_port(authority: bytes) -> tuple[str, int | None]:
    """:func:`split_authority` of a raw ``Host`` value; a request path asks it for the
    same few values over and over."""
    return split_authority(authority.decode("latin-1"))


def split_authority(authority: str) -> tuple[str, int | None]:
    """``Host`` value to (lowercase host without port, port or None)."""
    authority = authority.strip()
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[1:end], authority[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else None
    return host.lower().rstrip("."), port
