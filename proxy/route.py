"""Route stage entry points: the authority of a request, and the route table.

The table itself lives in :mod:`proxy.routing` (matching, version splits,
destinations); balancing in :mod:`proxy.balance`, endpoint health in
:mod:`proxy.health`.
"""

from __future__ import annotations

from proxy.routing.table import Pick, RequestPicks, RouteTable, RouteTarget

__all__ = ["Pick", "RequestPicks", "RouteTable", "RouteTarget", "split_authority"]


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
