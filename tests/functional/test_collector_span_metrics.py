"""RED in `red_1m` and edges in `service_edges_1m` equal what is computed by hand
from the spans sent, when client and server halves arrive in different requests
and in either order. Real collector over OTLP/HTTP, real chdb (shared store)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from collector import ClickHouseExporter, Collector, CollectorConfig
from storage import EdgeSummary, RedQuery, RedSummary, SpanRecord, Store
from storage.latency_histogram import quantile_ns
from tests.otlp_payloads import encode_request, hop
from tests.spans import BASE_NS, MS, make_span, new_span_id, new_trace_id

MINUTE_S = BASE_NS // 1_000_000_000


@pytest.fixture(params=[True, False], ids=["passthrough", "decoded"])
async def collector(chdb_store: Store, request: pytest.FixtureRequest) -> AsyncIterator[Collector]:
    """Spans decoded by ClickHouse (the default) or in Python: the same RED and edges."""
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=0.02, pairing_wait_s=2.0)
    collector = Collector(config, ClickHouseExporter(chdb_store, otlp_passthrough=request.param))
    assert collector.otlp_passthrough is request.param
    await collector.start()
    yield collector
    await collector.stop()


async def send(session: aiohttp.ClientSession, port: int, spans: list[SpanRecord]) -> None:
    async with session.post(
        f"http://127.0.0.1:{port}/v1/traces",
        data=encode_request(spans),
        headers={"Content-Type": "application/x-protobuf"},
    ) as response:
        assert response.status == 200, await response.text()


async def wait_red(store: Store, q: RedQuery, requests: int) -> RedSummary:
    for _ in range(300):
        summary = await asyncio.to_thread(store.red_summary, q)
        if summary.requests >= requests:
            return summary
        await asyncio.sleep(0.05)
    raise AssertionError(f"red_1m has {summary.requests} of {requests} requests for {q}")


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


async def test_red_and_edges_equal_hand_computed(collector: Collector, chdb_store: Store) -> None:
    suffix = uuid.uuid4().hex[:8]
    gateway, cart = f"gateway-{suffix}", f"cart-{suffix}"
    clients: list[SpanRecord] = []
    servers: list[SpanRecord] = []
    expected: dict[tuple[str, str], list[int]] = {}  # (version, status class) -> durations
    errors: dict[tuple[str, str], int] = {}
    for i in range(40):
        trace_id = new_trace_id()
        root = make_span(
            trace_id=trace_id, service_name=gateway, span_name="GET /", span_kind="Server",
            timestamp_ns=BASE_NS + i * MS, duration_ns=50 * MS,
        )  # fmt: skip
        status = 500 if i % 8 == 0 else (404 if i % 5 == 0 else 200)
        version = "v2" if i % 4 == 0 else "v1"
        duration_ms = 3 + (i * 7) % 45
        client, server = hop(
            trace_id=trace_id, parent_span_id=root.span_id, client=gateway, server=cart,
            operation="GET /cart", timestamp_ns=BASE_NS + i * MS + MS, server_ms=duration_ms,
            http_status=status, server_version=version,
        )  # fmt: skip
        db = make_span(
            trace_id=trace_id, span_id=new_span_id(), parent_span_id=server.span_id,
            service_name=cart, span_name="SELECT carts", span_kind="Client",
            timestamp_ns=BASE_NS + i * MS + 2 * MS, duration_ns=2 * MS,
            span_attributes={"db.system.name": "postgresql"},
        )  # fmt: skip
        clients += [root, client]
        servers += [server, db]
        key = (version, f"{status // 100}xx")
        expected.setdefault(key, []).append(duration_ms * MS)
        errors[key] = errors.get(key, 0) + (status >= 500)
    orphan = make_span(
        trace_id=new_trace_id(), parent_span_id=new_span_id(), service_name=cart,
        span_name="GET /cart", span_kind="Server", timestamp_ns=BASE_NS, duration_ns=MS,
        resource_attributes={"service.version": "v1"},
    )  # fmt: skip

    async with aiohttp.ClientSession() as session:
        # Half the servers come before their clients, half after, in other requests.
        await send(session, collector.http_port, [*servers[:40], orphan])
        await send(session, collector.http_port, clients)
        await asyncio.sleep(0.1)
        await send(session, collector.http_port, servers[40:])

    total = sum(len(d) for d in expected.values())
    await wait_red(chdb_store, RedQuery(service=cart, caller="unknown"), 1)
    everything = await wait_red(chdb_store, RedQuery(service=cart), total + 1)
    assert everything.requests == total + 1
    for (version, status_class), durations in expected.items():
        q = RedQuery(service=cart, version=version, status_class=status_class, caller=gateway)
        red = await asyncio.to_thread(chdb_store.red_summary, q)
        assert (red.requests, red.errors) == (len(durations), errors[(version, status_class)])
        assert red.duration_sum_ns == sum(durations)
    all_durations = [d for ds in expected.values() for d in ds]
    merged = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=cart, caller=gateway))
    for q in (0.5, 0.9, 0.99):
        true_value = nearest_rank(all_durations, q)
        estimate = quantile_ns(merged.buckets, q)
        assert estimate is not None and true_value <= estimate <= true_value * 1.0906, (q, estimate)
    root_red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=gateway, caller=""))
    assert root_red.requests == 40

    edges = await wait_edges(chdb_store, (gateway, cart), 80)
    assert {(e.client, e.server, e.connection_type): (e.requests, e.errors) for e in edges} == {
        (gateway, cart, ""): (40, sum(errors.values())),
        (cart, "postgresql", "database"): (40, 0),
    }
    assert sum(errors.values()) == 5
    assert collector.telemetry()["meshlens_collector_paired_spans_total"] >= 40


async def wait_edges(store: Store, services: tuple[str, ...], requests: int) -> list[EdgeSummary]:
    for _ in range(300):
        edges = await asyncio.to_thread(store.service_edges, MINUTE_S, MINUTE_S + 60, services)
        if sum(e.requests for e in edges) >= requests:
            return edges
        await asyncio.sleep(0.05)
    raise AssertionError(f"service_edges_1m: {edges}")
