"""Route stage: which destination a request from the app goes to.

A request's authority (Host header, or the absolute-form target) without its
port is matched against the static route table; the chosen route's balancer
picks an endpoint. Balancing is round robin for now; the :class:`Balancer`
protocol is the seam for later policies (least request, locality, weights).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from proxy.config import Endpoint, Route


class Balancer(Protocol):
    def pick(self) -> Endpoint: ...


class RoundRobin:
    """Cycles through the endpoints in config order."""

    __slots__ = ("_cycle", "endpoints")

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)
        if not self.endpoints:
            raise ValueError("a balancer needs at least one endpoint")
        self._cycle: Iterator[Endpoint] = itertools.cycle(self.endpoints)

    def pick(self) -> Endpoint:
        return next(self._cycle)


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A matched route: the destination service and how to pick its endpoint."""

    host: str
    service: str
    balancer: Balancer


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


class RouteTable:
    """Host name to route; built once per config and swapped whole."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_host: dict[str, RouteTarget] = {}
        for route in routes:
            endpoints = route.parsed_endpoints()
            if endpoints:
                self._by_host[route.host.lower()] = RouteTarget(
                    host=route.host, service=route.service, balancer=RoundRobin(endpoints)
                )

    def match(self, host: str) -> RouteTarget | None:
        """The route for a host already stripped of its port, or None."""
        return self._by_host.get(host)

    def __len__(self) -> int:
        return len(self._by_host)
