"""Data points of one metric, from the `otel_metrics_*` table of its type.

The columns every table has come back as typed fields; the columns of the
type (a gauge's Value, a histogram's buckets, ...) come back by their ClickHouse
name in `MetricPoint.values`, as stored. Filters are query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.queries.filters import given_filters, limit_problems, time_range_problems

MAX_POINTS = 100_000


class MetricType(StrEnum):
    GAUGE = "gauge"
    SUM = "sum"
    HISTOGRAM = "histogram"
    EXPONENTIAL_HISTOGRAM = "exponential_histogram"
    SUMMARY = "summary"

    @property
    def table(self) -> str:
        return f"otel_metrics_{self.value}"


_EXEMPLARS = ("Exemplars.Value", "Exemplars.SpanId", "Exemplars.TraceId")
_HISTOGRAM_TAIL = ("Min", "Max", "AggregationTemporality")

# The columns particular to each type, read back as they are.
VALUE_COLUMNS: dict[MetricType, tuple[str, ...]] = {
    MetricType.GAUGE: ("Value", "Flags", *_EXEMPLARS),
    MetricType.SUM: ("Value", "Flags", "AggregationTemporality", "IsMonotonic", *_EXEMPLARS),
    MetricType.HISTOGRAM: (
        "Count", "Sum", "BucketCounts", "ExplicitBounds", *_HISTOGRAM_TAIL, "Flags", *_EXEMPLARS,
    ),
    MetricType.EXPONENTIAL_HISTOGRAM: (
        "Count", "Sum", "Scale", "ZeroCount", "PositiveOffset", "PositiveBucketCounts",
        "NegativeOffset", "NegativeBucketCounts", *_HISTOGRAM_TAIL, "Flags", *_EXEMPLARS,
    ),
    MetricType.SUMMARY: (
        "Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags",
    ),
}  # fmt: skip

POINTS_SQL = """SELECT ServiceName, MetricName, MetricUnit, MetricDescription,
    toUnixTimestamp64Nano(StartTimeUnix) AS StartTimeNs,
    toUnixTimestamp64Nano(TimeUnix) AS TimeNs,
    Attributes, ResourceAttributes, ScopeName,
    {value_columns}
FROM `{db}`.{table}
WHERE {where}
ORDER BY TimeUnix, ServiceName
LIMIT {{limit:UInt32}}"""

_FILTERS = (
    ("service", "ServiceName = {service:String}"),
    ("start_ns", "TimeUnix >= fromUnixTimestamp64Nano({start_ns:Int64})"),
    ("end_ns", "TimeUnix < fromUnixTimestamp64Nano({end_ns:Int64})"),
)


@dataclass(frozen=True, slots=True)
class MetricPointsQuery:
    """Points of metric `name` of type `metric_type`, oldest first; None filters nothing.

    Times are nanoseconds since the epoch, `end_ns` exclusive.
    """

    metric_type: MetricType
    name: str
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class MetricPoint:
    metric_type: MetricType
    service_name: str
    metric_name: str
    unit: str
    description: str
    start_time_ns: int
    time_ns: int
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    scope_name: str
    values: dict[str, Any] = field(default_factory=dict)  # by column name, e.g. "BucketCounts"


def validate(q: MetricPointsQuery) -> None:
    """ValueError naming every bad field of `q`."""
    problems: list[str] = []
    if q.metric_type not in tuple(MetricType):
        problems.append(
            f"metric_type: must be one of {', '.join(MetricType)}, got {q.metric_type!r}"
        )
    if not isinstance(q.name, str) or not q.name:
        problems.append(f"name: must be a metric name, got {q.name!r}")
    problems.extend(limit_problems(q.limit, MAX_POINTS))
    problems.extend(time_range_problems(q.start_ns, q.end_ns))
    if problems:
        raise ValueError("invalid metric points query: " + "; ".join(problems))


def render_points_sql(database: str, q: MetricPointsQuery) -> tuple[str, dict[str, object]]:
    validate(q)
    where, params = given_filters(q, _FILTERS)
    sql = POINTS_SQL.format(
        value_columns=", ".join(VALUE_COLUMNS[MetricType(q.metric_type)]),
        db=database,
        table=MetricType(q.metric_type).table,
        where="\n  AND ".join(["MetricName = {name:String}", *where]),
    )
    return sql, {"name": q.name, "limit": q.limit, **params}


def fetch_points(client: Client, database: str, q: MetricPointsQuery) -> list[MetricPoint]:
    sql, params = render_points_sql(database, q)
    metric_type = MetricType(q.metric_type)
    names = VALUE_COLUMNS[metric_type]
    points = []
    for row in client.query(sql, parameters=params).result_rows:
        service, name, unit, description, start_ns, time_ns, attrs, resource, scope = row[:9]
        points.append(
            MetricPoint(
                metric_type, service, name, unit, description, int(start_ns), int(time_ns),
                dict(attrs), dict(resource), scope, dict(zip(names, row[9:], strict=True)),
            )
        )
    return points
