"""Outbound stage: requests from the local app to other services.

The app sends plain HTTP here, with ``Host: <service>`` or an absolute-form
target. The host (without port) picks a route, the route's balancer an endpoint
(another sidecar's inbound listener), and the request goes over a pooled
keep-alive connection with a CLIENT span around it. Unknown hosts get 503 with
``x-meshlens-reason: no_route``, as Envoy answers.
"""

from __future__ import annotations

import random
from functools import partial

from proxy.accept import Exchange
from proxy.clock import Clock
from proxy.config import Endpoint
from proxy.exchange import RestOfExchange
from proxy.forward import Outcome, fail, forward
from proxy.http_codec import Headers, split_target, target_path
from proxy.http_serialize import (
    forwarded_request_head,
    framing_headers,
    serialize_request_head,
    upgrade_headers,
)
from proxy.inbound import (
    NO_TRACE_HEADERS,
    trace_source,
    with_trace_headers,
)
from proxy.inline_forward import inline_forward
from proxy.interception import OriginalDestinations
from proxy.resilience.route_guard import RouteGuard, RouteGuards
from proxy.route import RequestPicks, RouteTable, RouteTarget, host_and_port
from proxy.telemetry import UNTRACED, Hop, Telemetry
from proxy.upstream_pool import UpstreamPool


class OutboundHandler:
    def __init__(self, routes: RouteTable, pool: UpstreamPool, telemetry: Telemetry,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.routes = routes
        self._pool = pool
        self._telemetry = telemetry
        # redirected connections (iptables REDIRECT) route by the address the app dialled
        self.original_destinations = OriginalDestinations(())
        self.guards = RouteGuards(pool, self._mirror_endpoint, clock, rng)

    def _mirror_endpoint(self, host: str) -> Endpoint | None:
        return self.routes.pick_for_host(host)

    async def stop(self) -> None:
        """Cancel mirror copies still in flight."""
        await self.guards.stop()

    async def __call__(self, exchange: Exchange) -> None:
        rest = self._route(exchange, inline=False)
        if rest is not None:
            await rest()

    def inline(self, exchange: Exchange) -> bool:
        """The same for a bodyless request, from the parser callback: plain forwarding
        goes inline (proxy.inline_forward), a route's policy continues in the worker."""
        head = exchange.head
        if (not head.traced and not self._telemetry.enabled and head.target[:1] == b"/"
                and exchange.conn.original_dst is None):
            # the usual request (no span, no trace context to pass on, origin-form, not
            # redirected) to a host whose one route has no policy: what _route does for
            # it, without the decisions it does not need
            noted = head.noted
            host_value = noted[0][1] if noted and noted[0][0] == b"host" \
                else head.header(b"host")
            routes = self.routes
            route = routes.catch_all.get(host_and_port(host_value or b"")[0])
            if route is not None and (route in routes.unguarded
                                      or self._no_guard(routes, route)):
                # one per connection, as its inline forward: one such request at a time
                # (the last one's picks are finished before the next one is offered)
                conn = exchange.conn
                picks = conn.route_picks
                if picks is None:
                    picks = conn.route_picks = RequestPicks(route)
                request = forwarded_request_head(head, head.target, b"")
                (conn.inline_forward or inline_forward(conn)).start(
                    exchange, self._pool, picks.first(route), request, picks.finish, picks.ended)
                return True
        rest = self._route(exchange, inline=True)
        if rest is not None:
            exchange.conn.inline_continue(rest)
        return True

    def _no_guard(self, routes: RouteTable, route: RouteTarget) -> bool:
        """``route`` (of ``routes``) has no guard (no policy); remembered when so. That
        follows from the route's policy alone, so guards.for_route is asked once per route
        (for its bookkeeping: retiring the guard an older config's route of that host
        had), not once per request."""
        if self.guards.for_route(route.key, route.service, route.policy) is not None:
            return False
        routes.unguarded.add(route)
        return True

    def _route(self, exchange: Exchange, inline: bool) -> RestOfExchange | None:
        """Route ``exchange``; answer it, forward it inline, or return the rest to await."""
        head = exchange.head
        target = head.target
        authority = None
        if target[:1] != b"/":  # origin-form, the usual, needs no split
            authority, target = split_target(target)
        noted = head.noted  # Host is noted first in most heads: header() then needs no call
        host_value = noted[0][1] if noted and noted[0][0] == b"host" else head.header(b"host")
        host, port = host_and_port(authority or host_value or b"")
        original_dst = exchange.conn.original_dst
        if original_dst is not None:
            redirected = self.original_destinations.host_for(original_dst)
            if redirected is not None:
                host = redirected
        telemetry = self._telemetry
        # the path is for the span and for routes that match on it: made only for those
        path = target_path(target) if telemetry.enabled else None
        if not head.traced and not telemetry.enabled:
            hop = UNTRACED  # no span and no trace context to pass on: what start_hop returns
        else:
            hop = telemetry.start_hop(
                "outbound", head.method, path or "",
                trace_source(head) if head.traced else NO_TRACE_HEADERS,
                {
                    "server.address": host,
                    "server.port": port or 80,
                    "url.scheme": "http",
                    "network.protocol.version": "1.1",
                } if telemetry.enabled else {},
            )
        picks: RequestPicks | None = None
        try:
            route = self.routes.catch_all.get(host)
            if route is None:
                route = self.routes.match(host, head,
                                          path if path is not None else target_path(target))
            if route is None:
                hop.set_destination("unknown", "no_route")
                finish_outbound(hop, None, fail(exchange, 503, "no_route"))
                if inline:
                    exchange.conn.inline_done()
                return None
            if telemetry.enabled:  # else the hop records nothing: no calls for nothing
                # hop.set_attribute and set_destination, without the calls
                hop.attributes["peer.service"] = route.service
                hop.destination, hop.route = route.service, route.host
            # health and latency of each picked endpoint are reported (route.picks(), without
            # the call)
            picks = RequestPicks(route)
            guard = self.guards.for_route(route.key, route.service, route.policy)
            if guard is not None or authority is not None:
                headers = with_trace_headers(head, hop)
                if authority is not None:
                    # absolute-form: the authority in the target wins over any Host header
                    headers = [(k, v) for k, v in headers if k.lower() != b"host"]
                    headers.insert(0, (b"Host", authority))
                if guard is not None:  # timeouts, retries, faults, ... pick endpoints per try
                    return partial(self._guarded, guard, exchange, hop, picks, target, headers)
                request = serialize_request_head(head.method, target, headers + framing_headers(
                    head.framing, head.content_length) + upgrade_headers(head))
            else:
                request = forwarded_request_head(
                    head, target, b"" if hop is UNTRACED else hop.trace_lines())
            endpoint = picks()
            if telemetry.enabled:
                attributes = hop.attributes
                attributes["network.peer.address"] = endpoint.host
                attributes["network.peer.port"] = endpoint.port
        except BaseException:
            finish_outbound(hop, picks, None)
            raise
        if inline:
            # an untraced hop records nothing (no ejection events): only the picks to close
            done = picks.finish if hop is UNTRACED else partial(finish_outbound, hop, picks)
            conn = exchange.conn
            (conn.inline_forward or inline_forward(conn)).start(
                exchange, self._pool, endpoint, request, done)
            return None
        return partial(self._forward, exchange, hop, picks, endpoint, request)

    async def _forward(self, exchange: Exchange, hop: Hop, picks: RequestPicks,
                       endpoint: Endpoint, request: bytes) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await forward(exchange, self._pool, endpoint, request)
        finally:
            finish_outbound(hop, picks, outcome)

    async def _guarded(self, guard: RouteGuard, exchange: Exchange, hop: Hop,
                       picks: RequestPicks, target: bytes, headers: Headers) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await guard.forward(exchange, hop, picks, target, headers)
        finally:
            finish_outbound(hop, picks, outcome)


def finish_outbound(hop: Hop, picks: RequestPicks | None, outcome: Outcome | None) -> None:
    """Report the last attempt's endpoint (its ejections become span events), end the hop."""
    if picks is not None:
        for ejection in picks.finish(outcome):
            hop.add_event("outlier.ejection", ejection.attributes())
    if hop is not UNTRACED:  # (which records nothing: no call for nothing)
        hop.conclude(outcome)
