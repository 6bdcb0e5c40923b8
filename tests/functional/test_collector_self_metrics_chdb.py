"""Self-metrics in real storage (chdb through the shared `chdb_store`).

A running collector takes spans over OTLP/HTTP; its self-metrics rounds, moved
by a FakeClock instead of a real 10 s interval, are read back with the metric
points query. Collectors of other tests write self-metrics to the same store,
so each test has its own `service.instance.id` and reads only its points.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp

from collector import (
    ClickHouseExporter,
    Collector,
    CollectorConfig,
    RetryConfig,
    SelfMetricsConfig,
)
from collector.self_metrics import EXPORT_LATENCY_METRIC, SERVICE_NAME
from collector.testing import FailingStore, FakeClock
from storage import MetricPoint, MetricPointsQuery, MetricType, Store
from tests.otlp_payloads import encode_request
from tests.spans import make_span, new_trace_id

PROTOBUF = {"Content-Type": "application/x-protobuf"}
ACCEPTED = "meshlens_collector_accepted_spans"


async def until(done: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if done():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def send_spans(collector: Collector, count: int) -> int:
    """One OTLP/HTTP protobuf request of `count` spans; its size in bytes."""
    trace_id = new_trace_id()
    body = encode_request(
        [make_span(trace_id=trace_id, service_name="self-metrics-test") for _ in range(count)]
    )
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=PROTOBUF) as response,
    ):
        assert response.status == 200, await response.text()
    return len(body)


def points(store: Store, instance: str, metric_type: MetricType, name: str) -> list[MetricPoint]:
    """This collector's points of one self-metric, oldest first."""
    q = MetricPointsQuery(metric_type, name, service=SERVICE_NAME)
    return [
        p for p in store.metric_points(q)
        if p.resource_attributes.get("service.instance.id") == instance
    ]  # fmt: skip


def values(store: Store, instance: str, metric_type: MetricType, name: str) -> list[float]:
    return [p.values["Value"] for p in points(store, instance, metric_type, name)]


async def next_round(collector: Collector, clock: FakeClock, written: int) -> None:
    """Let the interval pass on the fake clock and wait for that round's write."""
    assert collector.self_metrics is not None
    stats = collector.self_metrics.stats
    await asyncio.sleep(0)  # the rounds task is asleep on the clock before it moves
    clock.advance(10)
    await until(lambda: stats.written_rounds == written, f"self-metrics round {written}")


async def test_accepted_spans_and_queue_depth_are_written_each_round(chdb_store: Store) -> None:
    # Spans wait in the queue while their export retries against a store that is
    # away; self-metrics go to the real store directly, so they see the queue full.
    instance = f"test-{uuid.uuid4().hex[:8]}"
    failing, clock = FailingStore(chdb_store), FakeClock()
    config = CollectorConfig(
        http_port=0, grpc_port=0, batch_timeout_s=0.02,
        retry=RetryConfig(max_attempts=100, initial_backoff_s=0.05, max_backoff_s=0.05),
        self_metrics=SelfMetricsConfig(instance_id=instance),
    )  # fmt: skip
    collector = Collector(
        config, ClickHouseExporter(failing), self_metrics_store=chdb_store,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    failing.take_away()
    await collector.start()
    try:
        size = await send_spans(collector, 5)
        await until(lambda: failing.failed_writes >= 1, "the export to fail")
        await next_round(collector, clock, written=1)
        telemetry = collector.telemetry()

        def read(metric_type: MetricType, name: str) -> list[float]:
            return values(chdb_store, instance, metric_type, name)

        assert read(MetricType.SUM, "meshlens_collector_accepted_spans") == [5.0]
        assert read(MetricType.SUM, "meshlens_collector_exported_spans") == [0.0]
        assert read(MetricType.GAUGE, "meshlens_collector_queue_spans") == [5.0]
        [queue_bytes] = read(MetricType.GAUGE, "meshlens_collector_queue_bytes")
        assert queue_bytes == telemetry["meshlens_collector_queue_bytes"] > 0
        assert queue_bytes <= size
        [accepted] = points(chdb_store, instance, MetricType.SUM, ACCEPTED)
        assert accepted.values["IsMonotonic"] is True
        assert accepted.values["AggregationTemporality"] == 2  # cumulative
        assert accepted.start_time_ns < accepted.time_ns

        failing.give_back()
        await until(lambda: collector.exporter.stats.exported.spans == 5, "the export")
        await next_round(collector, clock, written=2)
        assert read(MetricType.SUM, "meshlens_collector_accepted_spans") == [5.0, 5.0]
        assert read(MetricType.SUM, "meshlens_collector_exported_spans") == [0.0, 5.0]
        assert read(MetricType.GAUGE, "meshlens_collector_queue_spans") == [5.0, 0.0]
        assert read(MetricType.GAUGE, "meshlens_collector_queue_bytes")[-1] == 0.0
        first, second = points(
            chdb_store, instance, MetricType.GAUGE, "meshlens_collector_queue_spans"
        )
        assert second.time_ns - first.time_ns == 10 * 10**9  # one interval of the fake clock
        [*_, latency] = points(chdb_store, instance, MetricType.HISTOGRAM, EXPORT_LATENCY_METRIC)
        assert latency.values["Count"] >= 1  # the export that got through
        assert sum(latency.values["BucketCounts"]) == latency.values["Count"]
    finally:
        await collector.stop()


async def test_rounds_are_skipped_and_counted_while_storage_fails(
    chdb_store: Store, tmp_path: Path
) -> None:
    # Self-metrics share the exporter's store (the default) and it is away: rounds
    # fail fast and are counted, spans go to the spool and receivers keep answering.
    instance = f"test-{uuid.uuid4().hex[:8]}"
    failing, clock = FailingStore(chdb_store), FakeClock()
    config = CollectorConfig(
        http_port=0, grpc_port=0, batch_timeout_s=0.02, spool_dir=str(tmp_path),
        retry=RetryConfig(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.01),
        self_metrics=SelfMetricsConfig(instance_id=instance),
    )  # fmt: skip
    collector = Collector(config, ClickHouseExporter(failing), clock=clock, sleep=clock.sleep)
    self_metrics = collector.self_metrics
    assert self_metrics is not None
    failing.take_away()
    await collector.start()
    try:
        await send_spans(collector, 3)
        assert await asyncio.wait_for(self_metrics.write_round(), 5) is False
        await asyncio.sleep(0)
        clock.advance(10)
        await until(lambda: self_metrics.stats.failed_rounds == 2, "the second skipped round")
        await send_spans(collector, 4)  # still answered: nothing waits on self-metrics
        await until(lambda: collector.exporter.stats.spooled.spans == 7, "the spool")
        assert collector.exporter.stats.spooled.metric_points == 0  # self-metrics never spool
        assert self_metrics.stats.written_rounds == 0
        assert points(chdb_store, instance, MetricType.SUM, ACCEPTED) == []

        failing.give_back()
        await until(lambda: collector.exporter.stats.replayed.spans == 7, "the replay")
        await next_round(collector, clock, written=1)

        def read(name: str) -> list[float]:
            return values(chdb_store, instance, MetricType.SUM, name)

        assert read("meshlens_collector_self_metrics_failed_rounds") == [2.0]
        assert read("meshlens_collector_self_metrics_busy_rounds") == [0.0]
        assert read("meshlens_collector_accepted_spans") == [7.0]
        assert read("meshlens_collector_spooled_spans") == [7.0]
        assert read("meshlens_collector_exported_spans") == [7.0]
        assert read("meshlens_collector_spooled_metric_points") == [0.0]
        assert values(chdb_store, instance, MetricType.GAUGE, "meshlens_collector_spool_records")
    finally:
        await collector.stop()
