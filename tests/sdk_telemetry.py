"""Metrics and logs made by the OpenTelemetry SDK, with values known up front, and
column batches read back as rows.

Shared by the decoder unit tests (encoded to OTLP protobuf) and the functional
tests (sent by the SDK's own OTLP exporters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from storage.columns import RowColumns

LATENCY_BOUNDS = (10.0, 100.0)
LATENCIES = (5, 50, 500)  # one in each bucket
SIZES = (1, 2, 4, 8)


def sdk_metrics(service: str) -> MetricsData:
    """`requests` counter 7, `inflight` up-down counter 3, `latency` histogram of
    LATENCIES, `sizes` exponential histogram of SIZES, `temperature` gauge 21.5."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="latency",
                aggregation=ExplicitBucketHistogramAggregation(LATENCY_BOUNDS),
            ),
            View(instrument_name="sizes", aggregation=ExponentialBucketHistogramAggregation(20)),
        ],
    )
    meter = provider.get_meter("tests.metrics", "1.0")
    requests = meter.create_counter("requests", unit="1", description="Requests served")
    requests.add(3, {"route": "/a"})
    requests.add(4, {"route": "/a"})
    latency = meter.create_histogram("latency", unit="ms")
    for value in LATENCIES:
        latency.record(value, {"route": "/a"})
    sizes = meter.create_histogram("sizes", unit="By")
    for value in SIZES:
        sizes.record(value)
    inflight = meter.create_up_down_counter("inflight")
    inflight.add(5)
    inflight.add(-2)

    def temperature(options: CallbackOptions) -> list[Observation]:
        return [Observation(21.5, {"room": "a"})]

    meter.create_observable_gauge("temperature", callbacks=[temperature])
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


@dataclass(frozen=True, slots=True)
class SdkLogs:
    records: Sequence[ReadableLogRecord]
    trace_id: str  # of the span the first record was emitted in
    span_id: str


def sdk_logs(service: str) -> SdkLogs:
    """"card declined" (ERROR, inside a span, attribute attempt=2), then
    {"event": "started"} (INFO, no trace context, timestamp 5 ns)."""
    memory = InMemoryLogRecordExporter()
    logs = LoggerProvider(resource=Resource.create({"service.name": service}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = logs.get_logger("tests.logs", "1.0")
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("pay") as span:
        logger.emit(
            body="card declined", severity_number=SeverityNumber.ERROR,
            severity_text="ERROR", attributes={"attempt": 2},
        )  # fmt: skip
    logger.emit(body={"event": "started"}, severity_number=SeverityNumber.INFO, timestamp=5)
    logs.shutdown()
    context = span.get_span_context()
    trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
    return SdkLogs(memory.get_finished_logs(), trace_id, span_id)


def column_rows(columns: RowColumns) -> list[dict[str, Any]]:
    """The rows of a column batch, each as {field name: value}."""
    names = columns.field_names()
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.columns(), strict=True)]
