"""Metric data points as written: one column batch per `otel_metrics_*` table.

Column names and meanings are those of the OpenTelemetry Collector's ClickHouse
exporter. Times are integer nanoseconds since the epoch, ids lowercase hex (""
when absent). Nested columns (exemplars, summary quantiles) hold one list per point.

`MetricColumns` holds the five tables of one batch; its length is the number of
data points in all of them, the unit the collector's queue counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from storage.columns import RowColumns


@dataclass(slots=True)
class MetricPointColumns(RowColumns):
    """The columns every metric table has: where the point comes from, what it is of."""

    ResourceAttributes: list[dict[str, str]] = field(default_factory=list)
    ResourceSchemaUrl: list[str] = field(default_factory=list)
    ScopeName: list[str] = field(default_factory=list)
    ScopeVersion: list[str] = field(default_factory=list)
    ScopeAttributes: list[dict[str, str]] = field(default_factory=list)
    ScopeDroppedAttrCount: list[int] = field(default_factory=list)
    ScopeSchemaUrl: list[str] = field(default_factory=list)
    ServiceName: list[str] = field(default_factory=list)
    MetricName: list[str] = field(default_factory=list)
    MetricDescription: list[str] = field(default_factory=list)
    MetricUnit: list[str] = field(default_factory=list)
    Attributes: list[dict[str, str]] = field(default_factory=list)
    StartTimeUnix: list[int] = field(default_factory=list)
    TimeUnix: list[int] = field(default_factory=list)
    Flags: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ExemplarPointColumns(MetricPointColumns):
    """Points that carry exemplars: sampled measurements, often with their trace."""

    ExemplarsFilteredAttributes: list[list[dict[str, str]]] = field(default_factory=list)
    ExemplarsTimeUnix: list[list[int]] = field(default_factory=list)
    ExemplarsValue: list[list[float]] = field(default_factory=list)
    ExemplarsSpanId: list[list[str]] = field(default_factory=list)
    ExemplarsTraceId: list[list[str]] = field(default_factory=list)


@dataclass(slots=True)
class GaugeColumns(ExemplarPointColumns):
    Value: list[float] = field(default_factory=list)


@dataclass(slots=True)
class SumColumns(ExemplarPointColumns):
    Value: list[float] = field(default_factory=list)
    AggregationTemporality: list[int] = field(default_factory=list)
    IsMonotonic: list[bool] = field(default_factory=list)


@dataclass(slots=True)
class DistributionColumns(ExemplarPointColumns):
    """What both kinds of histogram have: count, sum, extremes, temporality."""

    Count: list[int] = field(default_factory=list)
    Sum: list[float] = field(default_factory=list)
    Min: list[float] = field(default_factory=list)
    Max: list[float] = field(default_factory=list)
    AggregationTemporality: list[int] = field(default_factory=list)


@dataclass(slots=True)
class HistogramColumns(DistributionColumns):
    BucketCounts: list[list[int]] = field(default_factory=list)
    ExplicitBounds: list[list[float]] = field(default_factory=list)


@dataclass(slots=True)
class ExponentialHistogramColumns(DistributionColumns):
    Scale: list[int] = field(default_factory=list)
    ZeroCount: list[int] = field(default_factory=list)
    PositiveOffset: list[int] = field(default_factory=list)
    PositiveBucketCounts: list[list[int]] = field(default_factory=list)
    NegativeOffset: list[int] = field(default_factory=list)
    NegativeBucketCounts: list[list[int]] = field(default_factory=list)


@dataclass(slots=True)
class SummaryColumns(MetricPointColumns):
    Count: list[int] = field(default_factory=list)
    Sum: list[float] = field(default_factory=list)
    ValueAtQuantilesQuantile: list[list[float]] = field(default_factory=list)
    ValueAtQuantilesValue: list[list[float]] = field(default_factory=list)


# MetricColumns field -> the table its points go to.
METRIC_TABLES: dict[str, str] = {
    "gauges": "otel_metrics_gauge",
    "sums": "otel_metrics_sum",
    "histograms": "otel_metrics_histogram",
    "exponential_histograms": "otel_metrics_exponential_histogram",
    "summaries": "otel_metrics_summary",
}


@dataclass(slots=True)
class MetricColumns:
    """The data points of one batch, by table."""

    gauges: GaugeColumns = field(default_factory=GaugeColumns)
    sums: SumColumns = field(default_factory=SumColumns)
    histograms: HistogramColumns = field(default_factory=HistogramColumns)
    exponential_histograms: ExponentialHistogramColumns = field(
        default_factory=ExponentialHistogramColumns
    )
    summaries: SummaryColumns = field(default_factory=SummaryColumns)

    def tables(self) -> list[tuple[str, MetricPointColumns]]:
        """(table name, its points) for each of the five tables, in a fixed order."""
        return [(METRIC_TABLES[name], getattr(self, name)) for name in METRIC_TABLES]

    def __len__(self) -> int:
        return sum(len(points) for _, points in self.tables())

    def extend(self, other: MetricColumns) -> None:
        for name in METRIC_TABLES:
            getattr(self, name).extend(getattr(other, name))

    def split(self, count: int) -> tuple[MetricColumns, MetricColumns]:
        """The first `count` points (tables in order) and the rest."""
        head, tail = MetricColumns(), MetricColumns()
        for name in METRIC_TABLES:
            points = getattr(self, name)
            first, rest = points.split(min(count, len(points)))
            count -= len(first)
            setattr(head, name, first)
            setattr(tail, name, rest)
        return head, tail

    def to_document(self) -> dict[str, dict[str, list[Any]]]:
        """Plain lists and dicts by table and column (the collector's spool)."""
        tables = {name: getattr(self, name) for name in METRIC_TABLES}
        return {
            name: {f.name: getattr(points, f.name) for f in fields(points)}
            for name, points in tables.items()
            if len(points)
        }

    @classmethod
    def from_document(cls, document: dict[str, dict[str, list[Any]]]) -> MetricColumns:
        batch = cls()
        for name, columns in document.items():
            if name not in METRIC_TABLES:
                raise ValueError(f"unknown metric table {name!r}")
            setattr(batch, name, type(getattr(batch, name))(**columns))
        return batch
