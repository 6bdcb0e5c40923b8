"""Metrics and logs into real storage (chdb through the shared `chdb_store`).

Sent by the OpenTelemetry SDK's own OTLP exporters over gRPC and HTTP, read back
with `Store.metric_points` and `Store.logs`: every point type and the logs' trace
context must arrive with the values the SDK recorded. Tests share one store, so
each uses its own service name.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import ExponentialHistogramDataPoint, MetricExportResult

from collector import ClickHouseExporter, Collector, CollectorConfig
from storage import LogQuery, LogRecord, MetricPoint, MetricPointsQuery, MetricType, Store
from tests.sdk_telemetry import LATENCIES, LATENCY_BOUNDS, SIZES, sdk_logs, sdk_metrics

T = TypeVar("T")


@pytest.fixture
async def collector(chdb_store: Store) -> AsyncIterator[Collector]:
    config = CollectorConfig(http_port=0, grpc_port=0, batch_timeout_s=0.02)
    collector = Collector(config, ClickHouseExporter(chdb_store))
    await collector.start()
    yield collector
    await collector.stop()


async def wait_for(read: Callable[[], list[T]], count: int) -> list[T]:
    for _ in range(200):
        rows = await asyncio.to_thread(read)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} of {count} rows in storage")


def metric_exporters(collector: Collector) -> dict[str, Callable[[], Any]]:
    return {
        "grpc": lambda: GrpcMetrics(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True),
        "http": lambda: HttpMetrics(
            endpoint=f"http://127.0.0.1:{collector.http_port}/v1/metrics"
        ),
    }


def log_exporters(collector: Collector) -> dict[str, Callable[[], Any]]:
    return {
        "grpc": lambda: GrpcLogs(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True),
        "http": lambda: HttpLogs(endpoint=f"http://127.0.0.1:{collector.http_port}/v1/logs"),
    }


async def export(exporter: Any, data: Any) -> Any:
    try:  # the SDK exporters block; the collector runs on this loop
        return await asyncio.to_thread(exporter.export, data)
    finally:
        exporter.shutdown()


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_every_metric_type_lands_with_its_values(
    collector: Collector, chdb_store: Store, transport: str
) -> None:
    service = f"checkout-metrics-{transport}-{uuid.uuid4().hex[:8]}"
    exporter = metric_exporters(collector)[transport]()
    data = sdk_metrics(service)
    assert await export(exporter, data) is MetricExportResult.SUCCESS

    def points(metric_type: MetricType, name: str) -> Callable[[], list[MetricPoint]]:
        q = MetricPointsQuery(metric_type, name, service=service)
        return lambda: chdb_store.metric_points(q)

    [requests] = await wait_for(points(MetricType.SUM, "requests"), 1)
    assert requests.values["Value"] == 7.0
    assert requests.values["IsMonotonic"] is True
    assert requests.values["AggregationTemporality"] == 2  # cumulative
    assert (requests.unit, requests.description) == ("1", "Requests served")
    assert requests.attributes == {"route": "/a"}
    assert requests.scope_name == "tests.metrics"
    assert requests.resource_attributes["service.name"] == service
    assert requests.time_ns >= requests.start_time_ns > 0

    [inflight] = await wait_for(points(MetricType.SUM, "inflight"), 1)
    assert (inflight.values["Value"], inflight.values["IsMonotonic"]) == (3.0, False)

    [temperature] = await wait_for(points(MetricType.GAUGE, "temperature"), 1)
    assert temperature.values["Value"] == 21.5 and temperature.attributes == {"room": "a"}

    [latency] = await wait_for(points(MetricType.HISTOGRAM, "latency"), 1)
    assert latency.values["Count"] == len(LATENCIES) and latency.values["Sum"] == sum(LATENCIES)
    assert latency.values["BucketCounts"] == [1, 1, 1]
    assert latency.values["ExplicitBounds"] == list(LATENCY_BOUNDS)
    assert (latency.values["Min"], latency.values["Max"]) == (min(LATENCIES), max(LATENCIES))

    [sizes] = await wait_for(points(MetricType.EXPONENTIAL_HISTOGRAM, "sizes"), 1)
    values = sizes.values
    assert (values["Count"], values["Sum"]) == (len(SIZES), sum(SIZES))
    assert (values["Min"], values["Max"]) == (min(SIZES), max(SIZES))
    assert sum(values["PositiveBucketCounts"]) + values["ZeroCount"] == len(SIZES)
    [sent] = [m for m in data.resource_metrics[0].scope_metrics[0].metrics if m.name == "sizes"]
    point = sent.data.data_points[0]
    assert isinstance(point, ExponentialHistogramDataPoint)
    assert (values["Scale"], values["PositiveOffset"]) == (point.scale, point.positive.offset)
    assert values["PositiveBucketCounts"] == list(point.positive.bucket_counts)


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_logs_land_with_their_trace_context(
    collector: Collector, chdb_store: Store, transport: str
) -> None:
    service = f"checkout-logs-{transport}-{uuid.uuid4().hex[:8]}"
    sent = sdk_logs(service)
    exporter = log_exporters(collector)[transport]()
    assert await export(exporter, sent.records) is LogRecordExportResult.SUCCESS

    def read(q: LogQuery) -> Callable[[], list[LogRecord]]:
        return lambda: chdb_store.logs(q)

    declined, started = await wait_for(read(LogQuery(service=service)), 2)  # newest first
    assert declined.body == "card declined"
    assert (declined.trace_id, declined.span_id) == (sent.trace_id, sent.span_id)
    assert (declined.severity_text, declined.severity_number) == ("ERROR", 17)
    assert declined.trace_flags & 1 == 1
    assert declined.log_attributes == {"attempt": "2"}
    assert (declined.scope_name, declined.scope_version) == ("tests.logs", "1.0")
    assert started.body == '{"event":"started"}' and started.trace_id == ""
    assert started.timestamp_ns == 5

    by_trace = await wait_for(read(LogQuery(trace_id=sent.trace_id)), 1)
    assert [r.body for r in by_trace] == ["card declined"]
    errors = await wait_for(read(LogQuery(service=service, min_severity=17)), 1)
    assert [r.body for r in errors] == ["card declined"]
