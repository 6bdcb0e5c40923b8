"""Outbound routes that match on the path choose by it, telemetry on or off.

With telemetry off the outbound handler makes the path only for a host whose
routes look at it (proxy.outbound): real protocol objects over transports that
keep what is written, as bench/proxy_path.py runs them.
"""

from __future__ import annotations

import pytest

from proxy.accept import Downstream, Listener
from proxy.config import Endpoint, SidecarConfig
from proxy.outbound import OutboundHandler
from proxy.route import RouteTable
from proxy.telemetry import Telemetry
from proxy.testing import RecordingTransport
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
PORTS = {"exact": 7001, "rest": 7002}


@pytest.mark.parametrize("telemetry_on", [False, True])
def test_path_routes_choose_by_the_path(telemetry_on: bool) -> None:
    config = SidecarConfig.from_mapping({
        "service": "frontend", "version": "v1", "app_port": 9, "telemetry": False,
        "routes": [
            {"host": "catalog", "service": "exact", "match": {"path": {"exact": "/a"}},
             "endpoints": [f"127.0.0.1:{PORTS['exact']}"]},
            {"host": "catalog", "service": "rest", "endpoints": [f"127.0.0.1:{PORTS['rest']}"]},
        ],
    })
    telemetry = Telemetry(config)
    telemetry.enabled = telemetry_on
    pool = UpstreamPool()
    upstreams = {}
    for name, port in PORTS.items():
        upstream, transport = UpstreamConnection(Endpoint("127.0.0.1", port), pool), \
            RecordingTransport()
        upstream.connection_made(transport)  # type: ignore[arg-type]
        upstream.begin(head_request=False)  # as if it had answered a first request
        upstream.data_received(ANSWER)
        pool.release(upstream)
        upstreams[name] = (upstream, transport)
    handler = OutboundHandler(RouteTable(config.routes, config.destinations), pool, telemetry)
    downstream, answers = Downstream(Listener("outbound", handler, "127.0.0.1", 0)), \
        RecordingTransport()
    downstream.connection_made(answers)  # type: ignore[arg-type]
    for target, expected in ((b"/a?q=1", "exact"), (b"/b", "rest"), (b"/a", "exact")):
        downstream.data_received(b"GET %s HTTP/1.1\r\nHost: catalog\r\n\r\n" % target)
        chosen = [name for name, (_, transport) in upstreams.items() if transport.out]
        assert chosen == [expected], target
        upstream, transport = upstreams[expected]
        assert transport.out[0].startswith(b"GET %s HTTP/1.1\r\n" % target)
        transport.out.clear()
        upstream.data_received(ANSWER)
        assert answers.out.pop().startswith(b"HTTP/1.1 200 OK\r\n")
