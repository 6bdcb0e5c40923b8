"""Inbound stage: requests from other sidecars to the local app.

Each request gets a SERVER span, a child of the caller's ``traceparent``; the app
receives the new span's ``traceparent`` so its own calls continue the trace.
A request the sidecar answers itself before the app (the authorization gate of
``proxy.identity`` denying it) gets its SERVER span through :meth:`InboundHandler.refuse`.
"""

from __future__ import annotations

from proxy.accept import Downstream, Exchange
from proxy.config import Endpoint, SidecarConfig
from proxy.forward import Outcome, forward
from proxy.http_codec import Headers, RequestHead, split_target, target_path
from proxy.http_serialize import forwarded_request_head, request_end_to_end
from proxy.inline_forward import inline_forward
from proxy.route import host_and_port
from proxy.telemetry import UNTRACED, Hop, Telemetry
from proxy.upstream_pool import UpstreamPool

NO_TRACE_HEADERS: Headers = []  # shared, never changed: no trace headers to read


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
        hop = self._start_hop(exchange, authority, target)
        request = forwarded_request_head(head, target, trace_lines(hop))
        outcome: Outcome | None = None
        try:
            outcome = await forward(exchange, self._pool, self._app, request)
        finally:
            hop.conclude(outcome)

    def inline(self, exchange: Exchange) -> bool:
        """The same for a bodyless request, from the parser callback (proxy.inline_forward)."""
        head = exchange.head
        target = head.target
        authority = None
        if target[:1] != b"/":  # origin-form, the usual, needs no split
            authority, target = split_target(target)
        if not head.traced and not self._telemetry.enabled:
            # no span and no trace context to pass on: no hop to start or finish
            conn = exchange.conn
            (conn.inline_forward or inline_forward(conn)).start(
                exchange, self._pool, self._app, forwarded_request_head(head, target, b""), None)
            return True
        hop = self._start_hop(exchange, authority, target)
        request = forwarded_request_head(
            head, target, b"" if hop is UNTRACED else hop.trace_lines())
        conn = exchange.conn
        (conn.inline_forward or inline_forward(conn)).start(
            exchange, self._pool, self._app, request, hop.conclude)
        return True

    def refuse(self, exchange: Exchange, status: int, body: bytes, headers: Headers,
               attributes: dict[str, str | int], error_type: str) -> None:
        """Answer ``exchange`` here, the app never called (an authorization denial), with
        the SERVER span a forwarded request gets plus ``attributes``, as an error."""
        authority, target = split_target(exchange.head.target)
        hop = self._start_hop(exchange, authority, target)
        if self._telemetry.enabled:
            hop.attributes.update(attributes)
        exchange.respond(status, body, headers)
        hop.finish(status, error_type)

    def _start_hop(self, exchange: Exchange, authority: bytes | None, target: bytes) -> Hop:
        head = exchange.head
        telemetry = self._telemetry
        # without a trace header there is no context to look for (extract skipped)
        source = trace_source(head) if head.traced else NO_TRACE_HEADERS
        if not telemetry.enabled:  # no span: only the caller's trace context is passed on
            return telemetry.start_hop("inbound", head.method, "", source, {})
        if not authority:
            noted = head.noted  # Host is noted first in most heads: header() then needs no call
            authority = noted[0][1] if noted and noted[0][0] == b"host" \
                else head.header(b"host") or b""
        # a connection's requests name the same host and HTTP version: their attributes
        # are made once per connection and copied (a dict copy is a fraction of a new one)
        conn = exchange.conn
        version = head.version
        shared = conn.span_attributes
        if shared is None or shared[0] != authority or shared[1] != version:
            shared = conn.span_attributes = (
                authority, version, self._connection_attributes(conn, authority, version))
        return telemetry.start_hop("inbound", head.method, target_path(target), source,
                                   shared[2].copy())

    def _connection_attributes(self, conn: Downstream, authority: bytes,
                               version: str) -> dict[str, str | int]:
        host, port = host_and_port(authority)
        peer_host, peer_port = conn.peer
        return {
            "server.address": host or self._service,
            "server.port": port or self.listen_port,
            "network.peer.address": peer_host,
            "network.peer.port": peer_port,
            "url.scheme": "http",
            "network.protocol.version": version,
        }


def trace_source(head: RequestHead) -> Headers:
    """Headers that hold the incoming trace context: the parser's noted ones when
    there are (trace headers among them, lowercase), else all."""
    return head.noted if head.noted is not None else head.headers


def trace_lines(hop: Hop) -> bytes:
    """The trace header lines this hop sends on (none without telemetry or incoming context)."""
    return b"" if hop is UNTRACED else hop.trace_lines()


def with_trace_headers(head: RequestHead, hop: Hop) -> Headers:
    """End-to-end headers with the trace headers (W3C and B3) replaced by this hop's."""
    headers = request_end_to_end(head)
    trace = hop.trace_headers()
    if trace:
        headers += trace
    return headers
