"""Inbound stage: requests from other sidecars to the local app.

Each request gets a SERVER span, a child of the caller's ``traceparent``; the app
receives the new span's ``traceparent`` so its own calls continue the trace.
Later stages slot in here: peer identity from mTLS and the authorization check.
"""

from __future__ import annotations

from proxy.accept import Exchange
from proxy.config import Endpoint, SidecarConfig
from proxy.forward import Outcome, forward
from proxy.http_codec import Headers, RequestHead, split_target, target_path
from proxy.http_serialize import request_end_to_end
from proxy.route import host_and_port
from proxy.telemetry import Hop, Telemetry
from proxy.upstream_pool import UpstreamPool


class InboundHandler:
    """Forwards every request to ``app_host:app_port``, one SERVER span per request."""

    def __init__(self, config: SidecarConfig, pool: UpstreamPool, telemetry: Telemetry) -> None:
        self._app = Endpoint(config.app_host, config.app_port)
        self._service = config.service
        self._pool = pool
        self._telemetry = telemetry
        self.listen_port = config.inbound_port

    async def __call__(self, exchange: Exchange) -> None:
        head = exchange.head
        authority, target = split_target(head.target)
        telemetry = self._telemetry
        if telemetry.enabled:
            host, port = host_and_port(authority or head.header(b"host") or b"")
            peer_host, peer_port = exchange.conn.peer
            hop = telemetry.start_hop(
                "inbound", head.method, target_path(target), trace_source(head),
                {
                    "server.address": host or self._service,
                    "server.port": port or self.listen_port,
                    "network.peer.address": peer_host,
                    "network.peer.port": peer_port,
                    "url.scheme": "http",
                    "network.protocol.version": head.version,
                },
            )
        else:  # no span: only the caller's trace context is passed on
            hop = telemetry.start_hop("inbound", head.method, "", trace_source(head), {})
        headers = with_trace_headers(head, hop)
        outcome: Outcome | None = None
        try:
            outcome = await forward(exchange, self._pool, self._app, target, headers)
        finally:
            if outcome is None:
                hop.finish(None, "downstream_reset")
            else:
                hop.finish(outcome.status, outcome.error)


def trace_source(head: RequestHead) -> Headers:
    """Headers that hold the incoming trace context: the parser's noted ones when
    there are (trace headers among them, lowercase), else all."""
    return head.noted if head.noted is not None else head.headers


def with_trace_headers(head: RequestHead, hop: Hop) -> Headers:
    """End-to-end headers with the trace headers (W3C and B3) replaced by this hop's."""
    headers = request_end_to_end(head)
    trace = hop.trace_headers()
    if trace:
        headers += trace
    return headers
