"""B3 propagation, RED metrics on /metrics, /clusters, and OTLP export over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proxy import Sidecar
from proxy.metrics.prometheus import parse
from proxy.metrics.red import BUCKETS_MS
from tests.proxy_mesh import CLIENT_TIMEOUT, Mesh, running_app, running_mesh, sidecar_config

RUN_ON_UVLOOP = True
B3_TRACE = "463ac35c9f6413ad48485a3953bb6124"
B3_SPAN = "a2fb4a1d1a96d312"
W3C = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async with running_app() as app, running_mesh(app) as mesh:
        yield mesh


async def _get(mesh: Mesh, path: str, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.get(
        mesh.outbound_url + path, headers={"Host": "catalog", **(headers or {})}
    ) as response:
        await response.read()
        return response.status


async def _admin(sidecar: Sidecar, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.get(
        f"http://127.0.0.1:{sidecar.admin_port}{path}"
    ) as response:
        return response.status, await response.text()


async def test_b3_single_is_accepted_and_forwarded_in_the_same_form(mesh: Mesh) -> None:
    assert await _get(mesh, "/status/200", {"b3": f"{B3_TRACE}-{B3_SPAN}-1"}) == 200
    seen = mesh.app.seen[-1]
    trace_id, span_id, sampled = seen["b3"].split("-")
    assert trace_id == B3_TRACE and sampled == "1"
    assert seen["traceparent"] == f"00-{B3_TRACE}-{span_id}-01"
    await mesh.client_side.stop()
    await mesh.server_side.stop()
    (client,) = mesh.client_spans.get_finished_spans()
    (server,) = mesh.server_spans.get_finished_spans()
    assert client.parent is not None and client.parent.span_id == int(B3_SPAN, 16)
    assert f"{server.context.span_id:016x}" == span_id
    assert client.context.trace_id == server.context.trace_id == int(B3_TRACE, 16)


async def test_b3_multi_is_accepted_and_forwarded_in_the_same_form(mesh: Mesh) -> None:
    short_trace = B3_TRACE[16:]  # 64-bit B3 trace ids are accepted too
    status = await _get(mesh, "/status/200", {"X-B3-TraceId": short_trace,
                                              "X-B3-SpanId": B3_SPAN, "X-B3-Sampled": "1"})
    assert status == 200
    seen = {k.lower(): v for k, v in mesh.app.seen[-1].items()}
    assert seen["x-b3-traceid"] == short_trace.rjust(32, "0")
    assert seen["x-b3-sampled"] == "1"
    assert seen["traceparent"].split("-")[2] == seen["x-b3-spanid"]
    assert "b3" not in seen


async def test_w3c_wins_over_b3_and_b3_follows_it(mesh: Mesh) -> None:
    assert await _get(mesh, "/status/200", {"traceparent": W3C,
                                            "b3": f"{B3_TRACE}-{B3_SPAN}-1"}) == 200
    seen = mesh.app.seen[-1]
    w3c_trace = W3C.split("-")[1]
    assert seen["traceparent"].split("-")[1] == w3c_trace
    assert seen["b3"].split("-")[:2] == seen["traceparent"].split("-")[1:3]


async def test_unsampled_b3_is_propagated_without_spans(mesh: Mesh) -> None:
    assert await _get(mesh, "/status/200", {"b3": f"{B3_TRACE}-{B3_SPAN}-0"}) == 200
    assert mesh.app.seen[-1]["traceparent"].endswith("-00")
    await mesh.client_side.stop()
    await mesh.server_side.stop()
    assert not mesh.client_spans.get_finished_spans()


async def test_red_metrics_count_requests_by_status_class_with_buckets(mesh: Mesh) -> None:
    statuses = [200] * 5 + [404] * 3 + [503] * 2
    for code in statuses:
        assert await _get(mesh, f"/status/{code}") == code
    status, text = await _admin(mesh.client_side, "/metrics")
    assert status == 200
    samples = parse(text)
    base = {"direction": "outbound", "source": "frontend", "destination": "catalog",
            "route": "catalog", "version": ""}
    for klass, expected in (("2xx", 5), ("4xx", 3), ("5xx", 2)):
        labels = frozenset({**base, "status_class": klass}.items())
        assert samples[("meshlens_proxy_requests_total", labels)] == expected
        assert samples[("meshlens_proxy_request_duration_milliseconds_count", labels)] == expected
        inf = labels | {("le", "+Inf")}
        assert samples[("meshlens_proxy_request_duration_milliseconds_bucket", inf)] == expected
        buckets = [samples[("meshlens_proxy_request_duration_milliseconds_bucket",
                            labels | {("le", str(b))})] for b in BUCKETS_MS]
        assert buckets == sorted(buckets) and buckets[-1] == expected  # cumulative, < 10 s
        assert samples[("meshlens_proxy_request_duration_milliseconds_sum", labels)] > 0
    _, server_text = await _admin(mesh.server_side, "/metrics")
    inbound = frozenset({"direction": "inbound", "source": "unknown", "destination": "catalog",
                         "route": "", "version": "v1", "status_class": "5xx"}.items())
    assert parse(server_text)[("meshlens_proxy_requests_total", inbound)] == 2
    assert parse(server_text)[("meshlens_proxy_red_overflow_total", frozenset())] == 0


async def test_unknown_host_is_counted_under_no_route(mesh: Mesh) -> None:
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, session.get(
        mesh.outbound_url + "/", headers={"Host": "nowhere"}
    ) as response:
        assert response.status == 503
    samples = parse((await _admin(mesh.client_side, "/metrics"))[1])
    labels = frozenset({"direction": "outbound", "source": "frontend", "destination": "unknown",
                        "route": "no_route", "version": "", "status_class": "5xx"}.items())
    assert samples[("meshlens_proxy_requests_total", labels)] == 1


async def test_clusters_lists_routes_and_endpoints(mesh: Mesh) -> None:
    status, text = await _admin(mesh.client_side, "/clusters")
    assert status == 200
    (cluster,) = json.loads(text)["clusters"]
    assert cluster["service"] == "catalog"
    (endpoint,) = cluster["endpoints"]
    assert endpoint["address"] == f"127.0.0.1:{mesh.server_side.inbound_port}"
    assert endpoint["healthy"] is True and endpoint["ejected"] is False


async def test_otlp_export_posts_spans_and_metrics_and_failures_do_not_touch_traffic() -> None:
    received: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}

    async def collect(request: web.Request) -> web.Response:
        received[request.path].append(await request.read())
        # a collector without metrics support yet: the proxy must shrug it off
        return web.Response(status=404 if request.path == "/v1/metrics" else 200)

    collector = web.Application()
    collector.router.add_post("/v1/traces", collect)
    collector.router.add_post("/v1/metrics", collect)
    runner = web.AppRunner(collector, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    otlp = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with running_app() as app:
            server_side = Sidecar(sidecar_config("catalog", app.port, otlp_endpoint=otlp))
            await server_side.start()
            try:
                for code in (200, 500):
                    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session, \
                            session.get(f"http://127.0.0.1:{server_side.inbound_port}"
                                        f"/status/{code}") as response:
                        assert response.status == code
            finally:
                await server_side.stop()  # the last flush posts spans and metrics
    finally:
        await runner.cleanup()
    spans = [span for body in received["/v1/traces"]
             for rs in ExportTraceServiceRequest.FromString(body).resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert sorted(span.name for span in spans) == ["GET", "GET"]
    assert {span.status.code for span in spans} == {0, 2}  # unset, error
    (metrics_body,) = received["/v1/metrics"]
    metrics = ExportMetricsServiceRequest.FromString(metrics_body).resource_metrics[0]
    by_name = {m.name: m for m in metrics.scope_metrics[0].metrics}
    points = by_name["meshlens.proxy.request.duration"].histogram.data_points
    assert sum(p.count for p in points) == 2
    assert list(points[0].explicit_bounds) == [float(b) for b in BUCKETS_MS]
    resource = {kv.key: kv.value.string_value for kv in metrics.resource.attributes}
    assert resource["service.name"] == "catalog"
    await asyncio.sleep(0)
