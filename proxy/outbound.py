"""Outbound stage: requests from the local app to other services.

The app sends plain HTTP here, with ``Host: <service>`` or an absolute-form
target. The host (without port) picks a route, the route's balancer an endpoint
(another sidecar's inbound listener), and the request goes over a pooled
keep-alive connection with a CLIENT span around it. Unknown hosts get 503 with
``x-meshlens-reason: no_route``, as Envoy answers.
"""

from __future__ import annotations

from proxy.accept import Exchange
from proxy.forward import Outcome, fail, forward
from proxy.http_codec import split_target, target_path
from proxy.inbound import with_trace_headers
from proxy.route import RouteTable, split_authority
from proxy.telemetry import Telemetry
from proxy.trace_context import TRACEPARENT, TRACESTATE
from proxy.upstream_pool import UpstreamPool


class OutboundHandler:
    def __init__(self, routes: RouteTable, pool: UpstreamPool, telemetry: Telemetry) -> None:
        self.routes = routes
        self._pool = pool
        self._telemetry = telemetry

    async def __call__(self, exchange: Exchange) -> None:
        head = exchange.head
        authority, target = split_target(head.target)
        host, port = split_authority((authority or head.header(b"host") or b"").decode("latin-1"))
        hop = self._telemetry.start_hop(
            "outbound", head.method, target_path(target),
            head.header(TRACEPARENT), head.header(TRACESTATE),
            {
                "server.address": host,
                "server.port": port or 80,
                "url.scheme": "http",
                "network.protocol.version": "1.1",
            },
        )
        outcome: Outcome | None = None
        try:
            route = self.routes.match(host)
            if route is None:
                outcome = fail(exchange, 503, "no_route")
                return
            endpoint = route.balancer.pick()
            hop.set_attribute("peer.service", route.service)
            hop.set_attribute("network.peer.address", endpoint.host)
            hop.set_attribute("network.peer.port", endpoint.port)
            headers = with_trace_headers(head.headers, hop.traceparent, hop.tracestate)
            if authority is not None:
                # absolute-form: the authority in the target wins over any Host header
                headers = [(k, v) for k, v in headers if k.lower() != b"host"]
                headers.insert(0, (b"Host", authority))
            outcome = await forward(exchange, self._pool, endpoint, target, headers)
        finally:
            if outcome is None:
                hop.finish(None, "downstream_reset")
            else:
                hop.finish(outcome.status, outcome.error)
