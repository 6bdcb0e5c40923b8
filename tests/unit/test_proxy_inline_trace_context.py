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
    (sent,), (answer,), telemetry = exchanges(direction, telemetry_on, [request])
    return sent, answer, telemetry


def exchanges(direction: str, telemetry_on: bool, requests: list[bytes]
              ) -> tuple[list[bytes], list[bytes], Telemetry]:
    """``requests`` one after another on one connection to a sidecar listener."""
    sent, answers, telemetry, _ = connection_run(direction, telemetry_on, requests)
    return sent, answers, telemetry


def connection_run(direction: str, telemetry_on: bool, requests: list[bytes]
                   ) -> tuple[list[bytes], list[bytes], Telemetry, Downstream]:
    """:func:`exchanges`, and the downstream connection they came on."""
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
    sent, answers = [], []
    for request in requests:
        downstream.data_received(request)
        (written,) = up_transport.out  # written from the parser callback: no task, no wait
        upstream.data_received(ANSWER)
        sent.append(written)
        answers += down_transport.out
        up_transport.out.clear()
        down_transport.out.clear()
    return sent, answers, telemetry, downstream


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
    attributes = hop.span_attributes()
    assert attributes["url.path"] == "/a"
    assert attributes["server.address"] == "server"
    assert attributes["http.response.status_code"] == 200


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("context", [
    b"traceparent: %s\r\ntracestate: v=1\r\n" % CALLER,
    b"b3: 0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1\r\n",
    b"X-B3-TraceId: 0af7651916cd43dd8448eb211c80319c\r\nX-B3-SpanId: b7ad6b7169203331\r\n",
])
async def test_with_telemetry_a_hop_answers_in_the_callers_propagation_formats(
        direction: str, context: bytes) -> None:
    sent, _, telemetry = exchange(direction, True,
                                  b"GET /a HTTP/1.1\r\nHost: server\r\n%s\r\n" % context)
    (hop,) = telemetry.spans
    lines = b"".join(b"%s: %s\r\n" % pair for pair in hop.trace_headers())
    assert len(hop.trace_headers()) > 1 and sent.endswith(b"\r\n" + lines + b"\r\n")


async def test_inbound_spans_on_one_connection_follow_its_host_and_version() -> None:
    """The attributes a connection's spans share are made again when what they come
    from (the Host header, the HTTP version) changes between its requests."""
    _, _, telemetry = exchanges("inbound", True, [
        b"GET /a HTTP/1.1\r\nHost: server\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: other:81\r\n\r\n",
        b"GET /c HTTP/1.0\r\nHost: other:81\r\nConnection: keep-alive\r\n\r\n",
        b"GET /d HTTP/1.1\r\nHost: other:81\r\n\r\n",
    ])
    spans = [hop.span_attributes() for hop in telemetry.spans]
    assert [(span["url.path"], span["server.address"], span["server.port"],
             span["network.protocol.version"]) for span in spans] == [
        ("/a", "server", 15006, "1.1"), ("/b", "other", 81, "1.1"),
        ("/c", "other", 81, "1.0"), ("/d", "other", 81, "1.1")]
    assert telemetry.spans[0].attributes is not telemetry.spans[1].attributes
    assert "http.response.status_code" in spans[0]


async def test_inbound_spans_on_one_connection_share_attributes_by_copy() -> None:
    """Requests naming the same host reuse the connection's attributes: each span gets
    a copy, so what one request adds (its path, its status) never reaches another."""
    _, _, telemetry = exchanges("inbound", True, [
        b"GET /a HTTP/1.1\r\nHost: server\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: server\r\n\r\n",
    ])
    assert telemetry.spans[0].attributes is not telemetry.spans[1].attributes
    first, second = (hop.span_attributes() for hop in telemetry.spans)
    assert [first["url.path"], second["url.path"]] == ["/a", "/b"]
    assert {k: v for k, v in first.items() if k != "url.path"} == \
        {k: v for k, v in second.items() if k != "url.path"}


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("telemetry_on", [False, True])
async def test_an_idle_connection_keeps_nothing_of_its_last_request(
        direction: str, telemetry_on: bool) -> None:
    """The connection keeps its inline forward for the next request, but not the last
    one's hop, request bytes or upstream connection (an idle keep-alive connection
    would hold them for as long as it stays open)."""
    *_, downstream = connection_run(direction, telemetry_on, [
        b"GET /a HTTP/1.1\r\nHost: server\r\ntraceparent: " + CALLER + b"\r\n\r\n"])
    forward = downstream.inline_forward
    assert forward is not None
    assert (forward._done, forward._relayed, forward._conn, forward._request) == \
        (None, None, None, b"")
