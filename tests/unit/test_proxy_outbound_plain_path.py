"""The outbound handler's shortcut for the usual request keeps what routing owes it.

A bodyless, untraced, origin-form request to a host with one route goes inline
without the general routing code (proxy.outbound): the pick is still reported
(in-flight count back to zero, latency measured), and a route with a policy
still goes through its guard. Real protocol objects over transports that keep
what is written, as bench/proxy_path.py runs them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from proxy.accept import Downstream, Listener
from proxy.config import Endpoint, SidecarConfig
from proxy.outbound import OutboundHandler
from proxy.route import RouteTable
from proxy.telemetry import Telemetry
from proxy.testing import RecordingTransport
from proxy.upstream_pool import UpstreamConnection, UpstreamPool

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
REQUEST = b"GET /a HTTP/1.1\r\nHost: catalog\r\n\r\n"


def catalog(route: dict[str, Any]) -> SidecarConfig:
    return SidecarConfig.from_mapping({
        "service": "frontend", "version": "v1", "app_port": 9, "telemetry": False,
        "routes": [{"host": "catalog", "service": "catalog",
                    "endpoints": ["127.0.0.1:7001"], **route}],
    })


def wired(route: dict[str, Any]) -> tuple[RouteTable, Downstream, RecordingTransport,
                                           UpstreamConnection, RecordingTransport]:
    config = catalog(route)
    telemetry = Telemetry(config)
    telemetry.enabled = False
    pool = UpstreamPool()
    upstream, upstream_out = UpstreamConnection(Endpoint("127.0.0.1", 7001), pool), \
        RecordingTransport()
    upstream.connection_made(upstream_out)  # type: ignore[arg-type]
    upstream.begin(head_request=False)  # as if it had answered a first request
    upstream.data_received(ANSWER)
    pool.release(upstream)
    table = RouteTable(config.routes, config.destinations)
    handler = OutboundHandler(table, pool, telemetry)
    downstream, answers = Downstream(Listener("outbound", handler, "127.0.0.1", 0)), \
        RecordingTransport()
    downstream.connection_made(answers)  # type: ignore[arg-type]
    return table, downstream, answers, upstream, upstream_out


async def turns_until(condition: Any) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_a_plain_route_reports_each_pick() -> None:
    table, downstream, answers, upstream, upstream_out = wired({})
    state = table.destinations["catalog"].states[0]
    for _ in range(2):  # the connection's picks are reused for its second request
        downstream.data_received(REQUEST)
        assert upstream_out.out.pop().startswith(b"GET /a HTTP/1.1\r\n")
        assert state.outstanding == 1
        state.rtt_updated = 0.0
        upstream.data_received(ANSWER)
        assert answers.out.pop().startswith(b"HTTP/1.1 200 OK\r\n")
        assert state.outstanding == 0
        assert state.rtt_updated > 0.0  # the latency was observed


async def test_a_route_with_a_policy_goes_through_its_guard() -> None:
    table, downstream, answers, upstream, upstream_out = wired({"retry": {"attempts": 2}})
    downstream.data_received(REQUEST)
    await turns_until(lambda: upstream_out.out)
    upstream.data_received(ANSWER)
    await turns_until(lambda: answers.out)
    answer = b"".join(answers.out)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"x-meshlens-attempts: 1\r\n" in answer  # the guard's retry added it
    assert table.destinations["catalog"].states[0].outstanding == 0


async def test_a_policy_that_a_new_config_adds_applies() -> None:
    table, downstream, answers, upstream, upstream_out = wired({})
    downstream.data_received(REQUEST)  # the route is known to have no guard
    upstream.data_received(ANSWER)
    assert b"x-meshlens-attempts" not in b"".join(answers.out)
    assert len(table.unguarded) == 1  # known by the table, which the swap drops
    answers.out.clear()
    handler = downstream._listener.handler
    assert isinstance(handler, OutboundHandler)
    config = catalog({"retry": {"attempts": 2}})
    handler.routes = RouteTable(config.routes, config.destinations, previous=table)
    downstream.data_received(REQUEST)
    await turns_until(lambda: upstream_out.out[1:])
    upstream.data_received(ANSWER)
    await turns_until(lambda: answers.out)
    assert b"x-meshlens-attempts: 1\r\n" in b"".join(answers.out)
    assert not handler.routes.unguarded
