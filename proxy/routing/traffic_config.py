"""Routes and destinations read together, and the checks that need both.

Each route's ``service`` must name a destination: one under ``destinations``, or
the short form, the route's own ``endpoints``. Split versions must exist among
the destination's ``version`` labels, and a route after a catch-all route for
the same host could never match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.config_errors import AddProblem
from proxy.routing.destination_config import (
    DestinationConfig,
    LabeledEndpoint,
    parse_destination,
)
from proxy.routing.route_config import Route, parse_route


def parse_traffic(routes_value: Any, destinations_value: Any, add: AddProblem
                  ) -> tuple[tuple[Route, ...], tuple[DestinationConfig, ...]]:
    destinations: list[DestinationConfig] = []
    if not isinstance(destinations_value, list):
        add("destinations", f"expected a list, got {type(destinations_value).__name__}")
    else:
        for i, item in enumerate(destinations_value):
            destination = parse_destination(item, f"destinations[{i}]", add)
            if destination is None:
                continue
            if any(d.service == destination.service for d in destinations):
                add(f"destinations[{i}].service",
                    f"duplicate destination {destination.service!r}")
                continue
            destinations.append(destination)
    routes: list[Route] = []
    if not isinstance(routes_value, list):
        add("routes", f"expected a list, got {type(routes_value).__name__}")
    else:
        for i, item in enumerate(routes_value):
            route = parse_route(item, f"routes[{i}]", add)
            if route is not None:
                routes.append(route)
        if len(routes) == len(routes_value):  # indexes line up with the YAML
            check_routes(routes, destinations, add)
    return tuple(routes), tuple(destinations)


def check_routes(routes: Iterable[Route], destinations: Iterable[DestinationConfig],
                 add: AddProblem) -> None:
    explicit = {d.service: d for d in destinations}
    inline: dict[str, tuple[int, tuple[str, ...]]] = {}
    catch_all: dict[str, int] = {}
    for i, route in enumerate(routes):
        where = f"routes[{i}]"
        if route.host in catch_all:
            add(f"{where}.host", f"unreachable: routes[{catch_all[route.host]}] already takes "
                                 f"every request for {route.host!r}")
        elif route.match.matches_everything:
            catch_all[route.host] = i
        destination = explicit.get(route.service)
        if route.endpoints:
            if destination is not None:
                add(f"{where}.endpoints", f"destination {route.service!r} is defined under "
                                          "destinations; drop the endpoints here")
            elif route.service in inline and inline[route.service][1] != route.endpoints:
                add(f"{where}.endpoints", f"endpoints of {route.service!r} differ from "
                                          f"routes[{inline[route.service][0]}]")
            inline.setdefault(route.service, (i, route.endpoints))
        elif destination is None and route.service not in inline:
            add(f"{where}.service", f"no destination {route.service!r}: add it under "
                                    "destinations or give the route endpoints")
        versions = destination.versions() if destination is not None else set()
        for j, part in enumerate(route.split):
            if part.weight and part.version not in versions:
                key = f"{where}.split[{j}].version" if len(route.split) > 1 or \
                    part.weight != 100 else f"{where}.version"
                add(key, f"no endpoint of {route.service!r} has label version={part.version}")


def resolve_destinations(routes: Iterable[Route], destinations: Iterable[DestinationConfig]
                         ) -> dict[str, DestinationConfig]:
    """Service name to destination, the routes' short forms included."""
    out = {d.service: d for d in destinations}
    for route in routes:
        if route.endpoints and route.service not in out:
            out[route.service] = DestinationConfig(
                service=route.service,
                endpoints=tuple(LabeledEndpoint(e) for e in route.parsed_endpoints()))
    return out
