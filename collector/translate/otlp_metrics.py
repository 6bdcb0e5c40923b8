"""Decode an OTLP metrics request (protobuf, or OTLP/JSON read into protobuf) into
`MetricColumns`: each data point one row of the `otel_metrics_*` table of its type.

What is left out and counted (partial success), each with its field path:
- a metric of no type this collector knows (none set, or one newer than its
  OTLP), or with no data points: it counts as one rejected data point, so that
  the sender sees a rejection, not a warning;
- a data point that cannot be stored as it is: a number with neither asDouble
  nor asInt, a histogram whose bucketCounts do not fit its explicitBounds, an
  exemplar whose trace or span id has the wrong length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar, Metric

from collector.translate.attributes import flatten_attributes
from collector.translate.errors import parse_protobuf
from collector.translate.json_to_proto import parse_json_request
from collector.translate.scopes import ScopeOrigin, each_scope
from collector.translate.validation import Decoded, Rejections, optional_id_problem
from storage.metrics_model import (
    DistributionColumns,
    ExemplarPointColumns,
    ExponentialHistogramColumns,
    GaugeColumns,
    HistogramColumns,
    MetricColumns,
    MetricPointColumns,
    SumColumns,
    SummaryColumns,
)


def decode_metrics_protobuf(payload: bytes) -> Decoded[MetricColumns]:
    """Parse a serialized `ExportMetricsServiceRequest`; its valid points and the rejected."""
    return decode_metrics_request(parse_protobuf(ExportMetricsServiceRequest(), payload))


def decode_metrics_json(payload: bytes | str) -> Decoded[MetricColumns]:
    """Parse an OTLP/JSON metrics export body; its valid points and the rejected."""
    return decode_metrics_request(parse_json_request(payload, ExportMetricsServiceRequest()))


def decode_metrics_request(request: ExportMetricsServiceRequest) -> Decoded[MetricColumns]:
    columns = MetricColumns()
    rejections = Rejections()
    for origin, scope_metrics in each_scope(request.resource_metrics, "Metrics"):
        for m, metric in enumerate(scope_metrics.metrics):
            _decode_metric(columns, rejections, origin, metric, f"{origin.path}.metrics[{m}]")
    return Decoded(columns, rejections)


def _decode_metric(
    columns: MetricColumns, rejections: Rejections, origin: ScopeOrigin, metric: Metric,
    where: str,
) -> None:
    kind = metric.WhichOneof("data")
    if kind is None or kind not in _KINDS:
        rejections.add(
            f"metric {metric.name!r} has no data of a known type (gauge, sum, histogram, "
            f"exponentialHistogram or summary) in {where}"
        )
        return
    table_name, json_name, check, append = _KINDS[kind]
    data = getattr(metric, kind)
    if not data.data_points:
        rejections.add(f"{json_name}.dataPoints of metric {metric.name!r} is empty in {where}")
        return
    table: Any = getattr(columns, table_name)
    for k, point in enumerate(data.data_points):
        if problem := check(point, f"{where}.{json_name}.dataPoints[{k}]"):
            rejections.add(problem)
            continue
        _append_point(table, origin, metric, point)
        append(table, point, data)


def _append_point(
    table: MetricPointColumns, origin: ScopeOrigin, metric: Metric, point: Any
) -> None:
    table.ResourceAttributes.append(origin.resource)
    table.ResourceSchemaUrl.append(origin.resource_schema_url)
    table.ScopeName.append(origin.scope_name)
    table.ScopeVersion.append(origin.scope_version)
    table.ScopeAttributes.append(origin.scope_attributes)
    table.ScopeDroppedAttrCount.append(origin.scope_dropped)
    table.ScopeSchemaUrl.append(origin.scope_schema_url)
    table.ServiceName.append(origin.service)
    table.MetricName.append(metric.name)
    table.MetricDescription.append(metric.description)
    table.MetricUnit.append(metric.unit)
    table.Attributes.append(flatten_attributes(point.attributes))
    table.StartTimeUnix.append(point.start_time_unix_nano)
    table.TimeUnix.append(point.time_unix_nano)
    table.Flags.append(point.flags)


def _append_exemplars(table: ExemplarPointColumns, exemplars: Sequence[Exemplar]) -> None:
    table.ExemplarsFilteredAttributes.append(
        [flatten_attributes(e.filtered_attributes) for e in exemplars]
    )
    table.ExemplarsTimeUnix.append([e.time_unix_nano for e in exemplars])
    table.ExemplarsValue.append([_number(e) for e in exemplars])
    table.ExemplarsSpanId.append([e.span_id.hex() for e in exemplars])
    table.ExemplarsTraceId.append([e.trace_id.hex() for e in exemplars])


def _number(point: Any) -> float:
    """The value of a NumberDataPoint or Exemplar: asDouble or asInt, as a double."""
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


# --- per type: what makes a point invalid, and its own columns ------------------------


def _exemplars_problem(point: Any, where: str) -> str:
    for j, exemplar in enumerate(point.exemplars):
        problem = optional_id_problem(
            f"exemplars[{j}].traceId", exemplar.trace_id, 16, where
        ) or optional_id_problem(f"exemplars[{j}].spanId", exemplar.span_id, 8, where)
        if problem:
            return problem
    return ""


def _number_problem(point: Any, where: str) -> str:
    if point.WhichOneof("value") is None:
        return f"value: a number data point needs asDouble or asInt in {where}"
    return _exemplars_problem(point, where)


def _histogram_problem(point: Any, where: str) -> str:
    buckets, bounds = len(point.bucket_counts), len(point.explicit_bounds)
    if buckets and buckets != bounds + 1:
        return (
            f"bucketCounts must have one count more than explicitBounds has bounds "
            f"({bounds}), got {buckets} in {where}"
        )
    return _exemplars_problem(point, where)


def _append_gauge(table: GaugeColumns, point: Any, data: Any) -> None:
    _append_exemplars(table, point.exemplars)
    table.Value.append(_number(point))


def _append_sum(table: SumColumns, point: Any, data: Any) -> None:
    _append_exemplars(table, point.exemplars)
    table.Value.append(_number(point))
    table.AggregationTemporality.append(data.aggregation_temporality)
    table.IsMonotonic.append(data.is_monotonic)


def _append_distribution(table: DistributionColumns, point: Any, data: Any) -> None:
    _append_exemplars(table, point.exemplars)
    table.Count.append(point.count)
    table.Sum.append(point.sum)
    table.Min.append(point.min)
    table.Max.append(point.max)
    table.AggregationTemporality.append(data.aggregation_temporality)


def _append_histogram(table: HistogramColumns, point: Any, data: Any) -> None:
    _append_distribution(table, point, data)
    table.BucketCounts.append(list(point.bucket_counts))
    table.ExplicitBounds.append(list(point.explicit_bounds))


def _append_exponential(table: ExponentialHistogramColumns, point: Any, data: Any) -> None:
    _append_distribution(table, point, data)
    table.Scale.append(point.scale)
    table.ZeroCount.append(point.zero_count)
    table.PositiveOffset.append(point.positive.offset)
    table.PositiveBucketCounts.append(list(point.positive.bucket_counts))
    table.NegativeOffset.append(point.negative.offset)
    table.NegativeBucketCounts.append(list(point.negative.bucket_counts))


def _append_summary(table: SummaryColumns, point: Any, data: Any) -> None:
    table.Count.append(point.count)
    table.Sum.append(point.sum)
    table.ValueAtQuantilesQuantile.append([q.quantile for q in point.quantile_values])
    table.ValueAtQuantilesValue.append([q.value for q in point.quantile_values])


def _no_problem(point: Any, where: str) -> str:
    return ""


# Metric.data field -> (MetricColumns table, OTLP/JSON name, point check, point append).
_KINDS: dict[str, tuple[str, str, Callable[[Any, str], str], Callable[[Any, Any, Any], None]]] = {
    "gauge": ("gauges", "gauge", _number_problem, _append_gauge),
    "sum": ("sums", "sum", _number_problem, _append_sum),
    "histogram": ("histograms", "histogram", _histogram_problem, _append_histogram),
    "exponential_histogram": (
        "exponential_histograms", "exponentialHistogram", _exemplars_problem, _append_exponential,
    ),
    "summary": ("summaries", "summary", _no_problem, _append_summary),
}  # fmt: skip
