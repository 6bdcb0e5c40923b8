"""DDL of the metric tables, one per data point type, shaped like the OpenTelemetry
Collector ClickHouse exporter's `otel_metrics_*` (same column names and types), so
that Grafana's ClickHouse data source and other tools read them as they are.

Every table has the columns of `_POINT` (where a point comes from and what it
is of), then its own. Points of one series sit together: the sorting key is
(service, metric, attributes, time). Like the trace tables they keep a
deduplication window, so that a batch replayed from the collector's spool is
stored once.
"""

from __future__ import annotations

from string import Template

from storage.schema import Statement
from storage.schema_span_metrics import DEDUP_WINDOW

_POINT = """    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
"""

_EXEMPLARS = """    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
"""

_COUNT_SUM = """    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
"""

# Both kinds of histogram: their count and sum, buckets (given), then these.
_HISTOGRAM_TAIL = (
    _EXEMPLARS
    + """    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
"""
)

_INDEXES = """\
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1"""


def _metric_table(table: str, columns: str) -> Statement:
    return Statement(
        Template(
            f"CREATE TABLE IF NOT EXISTS `$db`.{table} (\n"
            + _POINT
            + columns
            + _INDEXES
            + """
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
${ttl}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, """
            + f"non_replicated_deduplication_window = {DEDUP_WINDOW}"
        ),
        ttl_column="TimeUnix",
    )


OTEL_METRICS_GAUGE_DDL = _metric_table(
    "otel_metrics_gauge",
    "    Value Float64 CODEC(ZSTD(1)),\n" + _EXEMPLARS,
)

OTEL_METRICS_SUM_DDL = _metric_table(
    "otel_metrics_sum",
    "    Value Float64 CODEC(ZSTD(1)),\n"
    + _EXEMPLARS
    + "    AggregationTemporality Int32 CODEC(ZSTD(1)),\n"
    + "    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),\n",
)

OTEL_METRICS_HISTOGRAM_DDL = _metric_table(
    "otel_metrics_histogram",
    _COUNT_SUM
    + """    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
"""
    + _HISTOGRAM_TAIL,
)

OTEL_METRICS_EXPONENTIAL_HISTOGRAM_DDL = _metric_table(
    "otel_metrics_exponential_histogram",
    _COUNT_SUM
    + """    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
"""
    + _HISTOGRAM_TAIL,
)

OTEL_METRICS_SUMMARY_DDL = _metric_table(
    "otel_metrics_summary",
    _COUNT_SUM
    + """    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
""",
)

OTEL_METRICS_DDL: tuple[Statement, ...] = (
    OTEL_METRICS_GAUGE_DDL,
    OTEL_METRICS_SUM_DDL,
    OTEL_METRICS_HISTOGRAM_DDL,
    OTEL_METRICS_EXPONENTIAL_HISTOGRAM_DDL,
    OTEL_METRICS_SUMMARY_DDL,
)
