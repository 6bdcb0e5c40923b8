"""The route table: host and request to a route, and a route to an endpoint.

Built once per config and swapped whole (one reference assignment in the
sidecar). Routes for one host are tried in config order and the first whose
``match`` holds wins. A matched :class:`RouteTarget` picks a version by the
route's weights, then an endpoint of that version through its destination::

    route = table.match(host, head, path)     # None: no route (503 no_route)
    picks = route.picks()                     # one per request
    endpoint = picks()                        # per attempt: a retry calls it again
    ...                                       # forward the request
    picks.report(status, error)               # an attempt that will be retried
    ejections = picks.finish(outcome)         # always, even when it failed
                                              # (or picks.ended(status): no Outcome to make)

A retried attempt is reported with its own outcome (the status it got, or why
it got none), so outlier detection counts a retried 503 as a 5xx and a retried
connect failure as a connect failure. An attempt followed by another pick
without a report counts as a failed one (``attempt_retried``).
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from proxy.clock import Clock, SystemClock
from proxy.health.endpoint_state import EndpointState
from proxy.health.outlier_ejection import Ejection
from proxy.http_codec import RequestHead
from proxy.resilience.config import RoutePolicy
from proxy.routing.destination import Destination, time_source
from proxy.routing.destination_config import DestinationConfig, Endpoint
from proxy.routing.match import RequestMatcher
from proxy.routing.route_config import Route
from proxy.routing.traffic_config import resolve_destinations


class Result(Protocol):
    """What ``report`` needs of a forward outcome (``proxy.forward.Outcome``)."""

    @property
    def status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


RETRIED = "attempt_retried"  # what an attempt that was retried is reported as


class RequestPicks:
    """The endpoints picked for one request, one per attempt; the split's version
    is chosen once, so retries stay on it."""

    __slots__ = ("_ejections", "_route", "_started", "_state", "version")

    def __init__(self, route: RouteTarget) -> None:
        self._route = route
        self._state: EndpointState | None = None  # the current attempt's, until reported
        self._started = 0.0  # when it was picked
        self.version: str | None = None
        self._ejections: list[Ejection] | None = None  # made by the first (rarely any)

    def first(self, route: RouteTarget) -> Endpoint:
        """The first attempt's endpoint of a new request, once this one's are finished:
        cheaper than new picks (a connection's inline requests reuse one, proxy.outbound)."""
        assert self._state is None, "restarted with an attempt still to report"
        self._route = route
        self._ejections = None
        version = self.version = route.choose_version() if route._versions else None
        state = self._state = route.destination.pick(version)
        self._started = route._now()
        return state.address

    def __call__(self) -> Endpoint:
        if self._state is not None:
            self.ended(None, RETRIED)
        route = self._route
        version = self.version
        if version is None and route._versions:
            version = self.version = route.choose_version()
        state = self._state = route.destination.pick(version)
        self._started = route._now()
        return state.address

    def report(self, status: int | None, error: str | None) -> None:
        """The outcome of the current attempt, which is about to be retried: a
        response ``status``, or ``error`` (why there was none)."""
        self.ended(status, error)

    def finish(self, outcome: Result | None) -> Sequence[Ejection]:
        """Report the last attempt (None: the downstream went away first); every
        ejection this request caused."""
        if outcome is not None:
            self.ended(outcome.status, outcome.error)
        elif self._state is not None:
            state, self._state = self._state, None
            self._route.destination.report(state, None, None, None)  # no latency: no ejection
        return self._ejections or ()

    def ended(self, status: int | None, error: str | None = None) -> None:
        """:meth:`finish` without an outcome to make: the last attempt's response
        ``status``, or ``error`` (why there was none)."""
        state, self._state = self._state, None
        if state is not None:
            route = self._route
            ejection = route.destination.report(state, status, error,
                                                route._now() - self._started)
            if ejection is not None:
                if self._ejections is None:
                    self._ejections = []
                self._ejections.append(ejection)


class RouteTarget:
    """One route at run time."""

    __slots__ = ("_clock", "_cumulative", "_now", "_rng", "_versions", "config",
                 "destination", "host", "key", "matches", "policy", "service")

    def __init__(self, config: Route, destination: Destination, clock: Clock,
                 rng: random.Random, position: int = 0) -> None:
        self.config = config
        self.host = config.host
        # names the route across config versions: its host, and its place among the
        # routes of that host when there are several
        self.key = config.host if position == 0 else f"{config.host}#{position}"
        self.service = config.service
        self.policy: RoutePolicy = config.policy
        self.matches = RequestMatcher(config.match)
        self.destination = destination
        self._clock = clock
        self._now = time_source(clock)
        self._rng = rng
        parts = [p for p in config.split if p.weight > 0]
        for part in parts:
            if not destination.has_version(part.version):
                raise ValueError(f"route for {config.host!r}: no endpoint of "
                                 f"{config.service!r} has version {part.version!r}")
        self._versions = tuple(p.version for p in parts)
        total, cumulative = 0, []
        for part in parts:
            total += part.weight
            cumulative.append(total)
        self._cumulative = tuple(cumulative)

    def picks(self) -> RequestPicks:
        return RequestPicks(self)

    def choose_version(self) -> str:
        """The split's version for a request (the route has one)."""
        version = self._versions[0]
        if len(self._versions) > 1:
            roll = self._rng.random() * self._cumulative[-1]
            for candidate, bound in zip(self._versions, self._cumulative, strict=True):
                if roll < bound:
                    return candidate
        return version


class RouteTable:
    """Routes by host, each host's routes in config order.

    ``previous`` is the table this one replaces: endpoints that persist keep their
    state (in-flight counts, latency, health, ejections).
    """

    def __init__(self, routes: Iterable[Route], destinations: Iterable[DestinationConfig] = (),
                 *, clock: Clock | None = None, rng: random.Random | None = None,
                 previous: RouteTable | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        routes = tuple(routes)
        clock = clock or SystemClock()
        rng = rng or random.Random()
        kept = previous.endpoint_states() if previous is not None else {}
        self.destinations = {
            name: Destination(config, clock, rng, previous=kept.get(name),
                              ssl_context=ssl_context)
            for name, config in resolve_destinations(routes, destinations).items()
            if config.endpoints
        }
        self._by_endpoint: dict[Endpoint, tuple[Destination, ...]] = {}
        for listing in self.destinations.values():
            for state in listing.states:
                listed = self._by_endpoint.get(state.address, ())
                self._by_endpoint[state.address] = (*listed, listing)
        self._by_host: dict[str, list[RouteTarget]] = {}
        for route in routes:
            destination = self.destinations.get(route.service)
            if destination is None:
                raise ValueError(f"route for {route.host!r}: no destination {route.service!r}")
            same_host = self._by_host.setdefault(route.host.lower(), [])
            same_host.append(RouteTarget(route, destination, clock, rng, len(same_host)))
        # hosts whose first route takes every request: matched without asking it (nor
        # making the path it would be asked with)
        self.catch_all = {host: same_host[0] for host, same_host in self._by_host.items()
                          if same_host[0].matches.matches_everything}
        # this table's routes a caller found to have no guard (proxy.outbound): kept here,
        # they go with the table when a new config replaces it
        self.unguarded: set[RouteTarget] = set()

    def match(self, host: str, head: RequestHead, path: str) -> RouteTarget | None:
        """The first route for ``host`` (lowercase, no port) whose match holds, or None."""
        route = self.catch_all.get(host)
        if route is not None:
            return route
        for route in self._by_host.get(host, ()):
            if route.matches(head, path):
                return route
        return None

    def pick_for_host(self, host: str) -> Endpoint | None:
        """An endpoint for a copy of a request (mirroring): of the destination named
        ``host``, else of the last (catch-all) route for ``host``. Not counted in flight."""
        destination = self.destinations.get(host)
        if destination is None:
            routes = self._by_host.get(host)
            if not routes:
                return None
            destination = routes[-1].destination
        state = destination.pick()
        destination.report(state, None, None, None)
        return state.address

    def destinations_for(self, endpoint: Endpoint) -> tuple[Destination, ...]:
        """The destinations that list ``endpoint`` (for the identity it must present)."""
        return self._by_endpoint.get(endpoint, ())

    def endpoint_states(self) -> dict[str, dict[Endpoint, EndpointState]]:
        return {name: {s.address: s for s in d.states} for name, d in self.destinations.items()}

    async def start(self) -> None:
        """Start the active health checks."""
        for destination in self.destinations.values():
            await destination.start()

    async def stop(self) -> None:
        for destination in self.destinations.values():
            await destination.stop()

    def describe(self) -> list[dict[str, Any]]:
        """Destinations, endpoints and their health, for the admin port."""
        return [d.snapshot() for d in self.destinations.values()]

    def __len__(self) -> int:
        return len(self._by_host)
