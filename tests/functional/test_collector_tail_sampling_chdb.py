"""Tail sampling on a real collector into chdb: traces with an error or over the
latency threshold are stored, a share of the rest by trace id, and nothing else;
`red_1m` and `service_edges_1m` still count every span, sampled or not."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from collector import ClickHouseExporter, Collector, CollectorConfig, TailSamplingConfig
from collector.processors.tail_sampling import share_keeps
from storage import RedQuery, SpanRecord, Store, TraceSearchQuery
from tests.otlp_payloads import encode_request, hop
from tests.spans import BASE_NS, MS, new_trace_id

MINUTE_S = BASE_NS // 1_000_000_000 // 60 * 60
KEEP_PERCENT = 25.0


async def send(session: aiohttp.ClientSession, port: int, spans: list[SpanRecord]) -> None:
    async with session.post(
        f"http://127.0.0.1:{port}/v1/traces",
        data=encode_request(spans),
        headers={"Content-Type": "application/x-protobuf"},
    ) as response:
        assert response.status == 200, await response.text()


async def stored_traces(store: Store, service: str) -> set[str]:
    query = TraceSearchQuery(service=service, limit=1000)
    return {found.trace_id for found in await asyncio.to_thread(store.search_traces, query)}


async def test_errors_and_slow_traces_are_kept_a_share_of_the_rest_and_red_sees_all(
    chdb_store: Store,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    web, cart = f"web-{suffix}", f"cart-{suffix}"
    sampling = TailSamplingConfig(
        enabled=True, decision_wait_s=0.5, latency_threshold_s=0.5, keep_percent=KEEP_PERCENT
    )
    config = CollectorConfig(
        http_port=0, grpc_port=0, batch_timeout_s=0.05, pairing_wait_s=2.0, tail_sampling=sampling
    )
    collector = Collector(config, ClickHouseExporter(chdb_store))
    stage = collector.sampling
    assert stage is not None
    clients: list[SpanRecord] = []
    servers: list[SpanRecord] = []
    failed: list[str] = []
    slow: list[str] = []
    normal: list[str] = []
    for i in range(200):
        trace_id = new_trace_id()
        kind = failed if i < 20 else slow if i < 40 else normal
        kind.append(trace_id)
        client, server = hop(
            trace_id=trace_id, parent_span_id="", client=web, server=cart, operation="GET /cart",
            timestamp_ns=BASE_NS + i * MS, server_ms=700 if kind is slow else 5,
            http_status=500 if kind is failed else 200,
        )  # fmt: skip
        clients.append(client)
        servers.append(server)
    shared = {t for t in normal if share_keeps(t, KEEP_PERCENT)}
    expected = set(failed) | set(slow) | shared
    assert 10 <= len(shared) <= 70  # about a quarter of 160

    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            # Each trace's two halves come in different requests, so in different batches.
            await send(session, collector.http_port, clients)
            await asyncio.sleep(0.2)
            await send(session, collector.http_port, servers)
        deadline = time.monotonic() + 20
        while stage.stats.kept_traces + stage.stats.dropped_traces < 200:
            assert time.monotonic() < deadline, stage.stats
            await asyncio.sleep(0.1)
        # Decided after the wait by the tick, before any stop: every trace whole.
        assert collector.telemetry()["meshlens_collector_sampling_waiting_traces"] == 0
    finally:
        await collector.stop()

    assert await stored_traces(chdb_store, cart) == expected
    assert await stored_traces(chdb_store, web) == expected
    assert await asyncio.to_thread(chdb_store.count_spans, cart) == len(expected)
    assert await asyncio.to_thread(chdb_store.count_spans, web) == len(expected)
    red = await asyncio.to_thread(chdb_store.red_summary, RedQuery(service=cart))
    assert (red.requests, red.errors) == (200, 20)  # every server span, stored or not
    edges = await asyncio.to_thread(chdb_store.service_edges, MINUTE_S, MINUTE_S + 60, (web, cart))
    assert [(e.client, e.server, e.requests, e.errors) for e in edges] == [(web, cart, 200, 20)]
    telemetry = collector.telemetry()
    assert telemetry["meshlens_collector_sampling_kept_traces_total"] == len(expected)
    assert telemetry["meshlens_collector_sampling_dropped_traces_total"] == 200 - len(expected)
    assert telemetry["meshlens_collector_sampling_dropped_spans_total"] == 2 * (
        200 - len(expected)
    )
    assert stage.stats.kept_by == {
        "error": 20, "latency": 20, "share": len(shared),
    }  # fmt: skip
    assert telemetry["meshlens_collector_dropped_spans_total"] == 0
