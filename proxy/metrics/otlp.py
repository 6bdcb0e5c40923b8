"""RED snapshot to an OTLP ``ExportMetricsServiceRequest`` (cumulative temporality).

Built directly with opentelemetry-proto classes in the export task: the SDK's
MeterProvider would put an instrument call with an attribute dict on every
request, and its histograms cannot be fed from our own counters.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from proxy.metrics.red import BUCKETS_MS, LABELS, RedSnapshot

SCOPE = InstrumentationScope(name="meshlens.proxy")
REQUESTS = "meshlens.proxy.requests"
DURATION = "meshlens.proxy.request.duration"


def attributes(values: Mapping[str, str | int]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int)
                     else AnyValue(string_value=v)) for k, v in values.items()]


def encode_metrics(snapshot: RedSnapshot, resource: Mapping[str, str]) -> bytes:
    requests: list[NumberDataPoint] = []
    durations: list[HistogramDataPoint] = []
    for series in snapshot.series:
        labels = attributes(dict(zip(LABELS, series.labels, strict=True)))
        requests.append(NumberDataPoint(
            attributes=labels, start_time_unix_nano=snapshot.start_ns,
            time_unix_nano=snapshot.time_ns, as_int=series.count))
        durations.append(HistogramDataPoint(
            attributes=labels, start_time_unix_nano=snapshot.start_ns,
            time_unix_nano=snapshot.time_ns, count=series.count, sum=series.sum_ms,
            bucket_counts=list(series.buckets), explicit_bounds=[float(b) for b in BUCKETS_MS]))
    overflow = NumberDataPoint(start_time_unix_nano=snapshot.start_ns,
                               time_unix_nano=snapshot.time_ns, as_int=snapshot.overflowed)
    metrics = [
        Metric(name=REQUESTS, unit="{request}", description="Requests per hop",
               sum=Sum(data_points=requests, is_monotonic=True,
                       aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE)),
        Metric(name=DURATION, unit="ms", description="Request duration per hop",
               histogram=Histogram(data_points=durations,
                                   aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE)),
        Metric(name="meshlens.proxy.red.overflow", unit="{request}",
               description="Requests counted in the 'other' series (label set cap)",
               sum=Sum(data_points=[overflow], is_monotonic=True,
                       aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE)),
    ]
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=attributes(resource)),
        scope_metrics=[ScopeMetrics(scope=SCOPE, metrics=metrics)],
    )])
    return request.SerializeToString()
