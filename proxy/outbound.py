"""Outbound stage: requests from the local app to other services.

The app sends plain HTTP here, with ``Host: <service>`` or an absolute-form
target. The host (without port) picks a route, the route's balancer an endpoint
(another sidecar's inbound listener), and the request goes over a pooled
keep-alive connection with a CLIENT span around it. Unknown hosts get 503 with
``x-meshlens-reason: no_route``, as Envoy answers.
"""

from __future__ import annotations

import random

from proxy.accept import Exchange
from proxy.clock import Clock
from proxy.config import Endpoint
from proxy.forward import Outcome, fail, forward
from proxy.http_codec import split_target, target_path
from proxy.inbound import trace_source, with_trace_headers
from proxy.interception import OriginalDestinations
from proxy.resilience.route_guard import RouteGuards
from proxy.route import RequestPicks, RouteTable, host_and_port
from proxy.telemetry import Telemetry
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
        head = exchange.head
        authority, target = split_target(head.target)
        host, port = host_and_port(authority or head.header(b"host") or b"")
        original_dst = exchange.conn.original_dst
        if original_dst is not None:
            redirected = self.original_destinations.host_for(original_dst)
            if redirected is not None:
                host = redirected
        path = target_path(target)
        telemetry = self._telemetry
        hop = telemetry.start_hop(
            "outbound", head.method, path, trace_source(head),
            {
                "server.address": host,
                "server.port": port or 80,
                "url.scheme": "http",
                "network.protocol.version": "1.1",
            } if telemetry.enabled else {},
        )
        outcome: Outcome | None = None
        picks: RequestPicks | None = None
        try:
            route = self.routes.match(host, head, path)
            if route is None:
                hop.set_destination("unknown", "no_route")
                outcome = fail(exchange, 503, "no_route")
                return
            hop.set_attribute("peer.service", route.service)
            hop.set_destination(route.service, route.host)
            headers = with_trace_headers(head, hop)
            if authority is not None:
                # absolute-form: the authority in the target wins over any Host header
                headers = [(k, v) for k, v in headers if k.lower() != b"host"]
                headers.insert(0, (b"Host", authority))
            picks = route.picks()  # health and latency of each picked endpoint are reported
            guard = self.guards.for_route(route.key, route.service, route.policy)
            if guard is not None:  # timeouts, retries, faults, ... pick endpoints per attempt
                outcome = await guard.forward(exchange, hop, picks, target, headers)
                return
            endpoint = picks()
            hop.set_attribute("network.peer.address", endpoint.host)
            hop.set_attribute("network.peer.port", endpoint.port)
            outcome = await forward(exchange, self._pool, endpoint, target, headers)
        finally:
            if picks is not None:
                for ejection in picks.finish(outcome):
                    hop.add_event("outlier.ejection", ejection.attributes())
            if outcome is None:
                hop.finish(None, "downstream_reset")
            else:
                hop.finish(outcome.status, outcome.error)
