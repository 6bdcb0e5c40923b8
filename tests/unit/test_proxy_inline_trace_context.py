"""The inline path (proxy.inline_forward) passes trace context on as the worker path does.

With telemetry off the sidecar makes no span: a request that carries trace headers
has them passed on unchanged, one without gets none (and no hop is started for it).
With telemetry on each hop sends its own span's ``traceparent``. Real protocol
objects over transports that keep what is written, as bench/proxy_path.py runs them.
"""

from __future__ import annotations

from typing import Any

import pytest

from proxy.accept import Downstream, Listener
from proxy.config import Endpoint, Route, SidecarConfig
from proxy.inbound import InboundHandler
from proxy.outbound import OutboundHandler
from proxy.route import RouteTable
from proxy.telemetry import Telemetry
from proxy.testing import RecordingTransport
from proxy.trace_context import parse_traceparent
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

CALLER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ANSWER = b"HTTP/1.1 200 OK\r\nServer: app\r\nContent-Length: 3\r\n\r\nok\n"


def exchange(direction: str, telemetry_on: bool, request: bytes) -> tuple[bytes, bytes, Telemetry]:
    """``request`` through one sidecar listener: (what the upstream got, the answer)."""
    config = SidecarConfig(service="server", version="v1", app_port=8080, inbound_port=15006,
                           telemetry=False)
    telemetry = Telemetry(config)
    telemetry.enabled = telemetry_on
    pool = UpstreamPool()
    handler: Any
    if direction == "inbound":
        endpoint = Endpoint(config.app_host, config.app_port)
        handler = InboundHandler(config, pool, telemetry)
    else:
        endpoint = Endpoint("127.0.0.1", 15006)
        handler = OutboundHandler(RouteTable([Route(host="server", service="server",
                                                    endpoints=("127.0.0.1:15006",))]),
                                  pool, telemetry)
    upstream, up_transport = UpstreamConnection(endpoint, pool), RecordingTransport()
    upstream.connection_made(up_transport)  # type: ignore[arg-type]
    upstream.begin(head_request=False)  # as if it had answered a first request
    upstream.data_received(ANSWER)
    pool.release(upstream)
    downstream, down_transport = Downstream(Listener(direction, handler, "127.0.0.1", 0)), \
        RecordingTransport()
    downstream.connection_made(down_transport)  # type: ignore[arg-type]
    downstream.data_received(request)
    (sent,) = up_transport.out  # written from the parser callback: no task, no wait
    upstream.data_received(ANSWER)
    (answer,) = down_transport.out
    return sent, answer, telemetry


def header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.lower() == name:
            return value.strip()
    return None


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
async def test_without_telemetry_a_request_without_context_gets_no_trace_headers(
        direction: str) -> None:
    sent, answer, telemetry = exchange(direction, False,
                                       b"GET /a HTTP/1.1\r\nHost: server\r\n\r\n")
    assert sent == b"GET /a HTTP/1.1\r\nHost: server\r\n\r\n"
    assert answer == b"HTTP/1.1 200 OK\r\nServer: app\r\nContent-Length: 3\r\n\r\nok\n"
    assert not telemetry.spans and not telemetry.red.snapshot().series


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
async def test_without_telemetry_the_callers_context_goes_on_unchanged(direction: str) -> None:
    sent, _, telemetry = exchange(
        direction, False,
        b"GET /a HTTP/1.1\r\nHost: server\r\ntraceparent: %s\r\ntracestate: v=1\r\n\r\n" % CALLER)
    assert header(sent, b"traceparent") == CALLER
    assert header(sent, b"tracestate") == b"v=1"
    assert not telemetry.spans


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("caller", [None, CALLER])
async def test_with_telemetry_each_hop_sends_its_own_span(direction: str,
                                                          caller: bytes | None) -> None:
    extra = b"traceparent: %s\r\n" % caller if caller else b""
    sent, _, telemetry = exchange(direction, True,
                                  b"GET /a?q=1 HTTP/1.1\r\nHost: server:8080\r\n%s\r\n" % extra)
    (hop,) = telemetry.spans
    sent_parent = parse_traceparent(header(sent, b"traceparent"))
    assert sent_parent is not None and sent_parent.span_id == hop.span_id
    if caller:
        parent = parse_traceparent(caller)
        assert parent is not None
        assert (hop.trace_id, hop.parent_span_id) == (parent.trace_id, parent.span_id)
    assert hop.attributes["url.path"] == "/a"
    assert hop.attributes["server.address"] == "server"
    assert hop.attributes["http.response.status_code"] == 200
