"""DDL templates for the trace tables, rendered per database and retention.

Templates use `$name` placeholders (string.Template), not `{}`: ClickHouse query
parameters are written `{name:Type}` and must survive rendering untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

# Database names are written into DDL, where ClickHouse takes no parameters.
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Statement:
    """A DDL template; `ttl_column` names the column rows age by, if retention applies,
    and `retention` which class of RetentionConfig (storage/retention.py) sets its days."""

    template: Template
    ttl_column: str | None = None
    retention: str = "spans"  # "spans", "aggregates" or "audit"


# ReplacingMergeTree by version: two processes migrating at once may both record
# a version; readers ask for DISTINCT versions, and merges drop the duplicate.
SCHEMA_MIGRATIONS_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3)
) ENGINE = ReplacingMergeTree
ORDER BY version"""
    )
)

CREATE_DATABASE_DDL = Statement(Template("CREATE DATABASE IF NOT EXISTS `$db`"))

# Column names, types and indexes as the OpenTelemetry Collector's ClickHouse
# exporter creates them, so Grafana's ClickHouse data source reads the table as is.
# Codecs, index_granularity and the sort order differ from the exporter's, chosen
# by measurement (bench/storage_schema.py, docs/benchmarks.md): ZSTD(6) makes the
# attribute maps 3.4x smaller than ZSTD(1); ZSTD(3) suits the other strings;
# 2048 rows per granule.
#
# Sorted by (hour, TraceId), not by (ServiceName, SpanName, time) as the exporter
# does: a trace's spans lie side by side, so a trace by id reads one or two
# granules instead of one per (service, operation) it crosses, and TraceId, which
# repeats along the trace, shrinks eightfold. At 10M spans: trace by id 64 -> 28 ms,
# 8.0x -> 9.9x compression, inserts ~20% faster; filters on a service no longer
# narrow the granules read (every granule holds every service): the 20 searches'
# p50 69 -> 94 ms, within their 100, and scans of one service over hours (slowest
# traces, version samples) 2-3x slower. Time filters keep the key through the hour.
# Measured against (hour, service, TraceId) too: docs/benchmarks.md, "Spans sorted
# by trace". Tables created before keep the exporter's order (ORDER BY cannot be
# altered): storage/queries/trace_by_id.py reads them as before, and `meshlens
# storage resort` re-sorts them (storage/resort.py).
OTEL_TRACES_PRIMARY_KEY = "toStartOfHour(Timestamp), TraceId"
# Sorted by trace, start times a few ms apart follow jumps within the hour: after
# Delta, ZSTD alone packs them best (1M spans: 2.8 B/span; with T64 3.4), as the
# exporter has it. (Sorted by service, T64 after Delta won, 4.96 against 5.76 B/span:
# tables that applied migration 9 before 2026-11-26 have that.)
TIMESTAMP_CODEC = "Delta(8), ZSTD(1)"
EXPORTER_PRIMARY_KEY = "ServiceName, SpanName, toDateTime(Timestamp)"
OTEL_TRACES_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.otel_traces (
    Timestamp DateTime64(9) CODEC("""
        + TIMESTAMP_CODEC
        + """),
    TraceId String CODEC(ZSTD(3)),
    SpanId String CODEC(ZSTD(3)),
    ParentSpanId String CODEC(ZSTD(3)),
    TraceState String CODEC(ZSTD(3)),
    SpanName LowCardinality(String) CODEC(ZSTD(3)),
    SpanKind LowCardinality(String) CODEC(ZSTD(3)),
    ServiceName LowCardinality(String) CODEC(ZSTD(3)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
    ScopeName String CODEC(ZSTD(3)),
    ScopeVersion String CODEC(ZSTD(3)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(3)),
    StatusMessage String CODEC(ZSTD(3)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY ("""
        + OTEL_TRACES_PRIMARY_KEY
        + """)
ORDER BY ("""
        + OTEL_TRACES_PRIMARY_KEY
        + """, Timestamp)
${ttl}SETTINGS index_granularity = 2048, ttl_only_drop_parts = 1"""
    ),
    ttl_column="Timestamp",
)

# Where a trace's spans are: one row per trace and inserted batch, with the span
# start times (Start, End) and the (ServiceName, SpanName) pairs. Grafana's trace
# query reads Start and End; search results list a trace's services from
# ServiceOperations. In an otel_traces sorted as the exporter sorts (created before
# the sort by trace), a trace by id turns both into a primary-key condition that
# leaves only the granules holding the trace (storage/queries/trace_by_id.py).
# ServiceOperations is ours; the exporter's table has TraceId, Start and End.
_SERVICE_OPERATIONS = (
    "ServiceOperations Array(Tuple(ServiceName LowCardinality(String), "
    "SpanName LowCardinality(String))) CODEC(ZSTD(3))"
)

# What a search's result list shows of a trace, per inserted batch, so that the
# summaries of the traces found read a row each here instead of every span of
# them (storage/queries/trace_search.py): span and error counts, the latest span
# end (nanoseconds) and the root candidate, the least (has a parent, start,
# service, operation): a span without a parent, else the earliest. Rows written
# before migration 10 have SpanCount 0 (every row written since counts >= 1):
# such traces are summarized from their spans.
_SUMMARY_COLUMNS = (
    "SpanCount UInt32 CODEC(T64, ZSTD(1))",
    "ErrorCount UInt32 CODEC(T64, ZSTD(1))",
    "SpansEndNs Int64 CODEC(Delta(8), ZSTD(1))",
    "Root Tuple(HasParent UInt8, Timestamp DateTime64(9), ServiceName LowCardinality(String), "
    "SpanName LowCardinality(String)) CODEC(ZSTD(3))",
)

# Lookups read a row or a few scattered ones: with the default 64 KiB-1 MiB blocks
# each costs ~15 blocks of 64 KiB decompressed. 8-64 KiB blocks: the 20 summaries
# of a search 30.8 -> 18.2 ms CPU, 9.9 -> 2.6 MB decompressed, the trace by id
# extent 7.1 -> 6.1 ms, for 1.5% more bytes (10M spans; docs/benchmarks.md).
_TRACE_ID_TS_BLOCKS = "min_compress_block_size = 8192, max_compress_block_size = 65536"

OTEL_TRACES_TRACE_ID_TS_DDL = Statement(
    Template(
        """CREATE TABLE IF NOT EXISTS `$db`.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    End DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    """
        + _SERVICE_OPERATIONS
        + "".join(f",\n    {column}" for column in _SUMMARY_COLUMNS)
        + """,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, toUnixTimestamp(Start))
${ttl}SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, """
        + _TRACE_ID_TS_BLOCKS
    ),
    ttl_column="Start",
)

# The view aggregates per inserted block only, so one trace written in several
# batches has several rows here; readers take min(Start), max(End) and the union
# of ServiceOperations.
_TRACE_ID_TS_SELECT_V9 = """SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End,
    groupUniqArray((ServiceName, SpanName)) AS ServiceOperations
FROM `$db`.otel_traces
WHERE TraceId != ''
GROUP BY TraceId"""

_TRACE_ID_TS_SELECT = """SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End,
    groupUniqArray((ServiceName, SpanName)) AS ServiceOperations,
    toUInt32(count()) AS SpanCount,
    toUInt32(countIf(StatusCode = 'Error')) AS ErrorCount,
    max(toInt64(toUnixTimestamp64Nano(Timestamp) + Duration)) AS SpansEndNs,
    min((toUInt8(ParentSpanId != ''), Timestamp, ServiceName, SpanName)) AS Root
FROM `$db`.otel_traces
WHERE TraceId != ''
GROUP BY TraceId"""

OTEL_TRACES_TRACE_ID_TS_MV_DDL = Statement(
    Template(
        """CREATE MATERIALIZED VIEW IF NOT EXISTS `$db`.otel_traces_trace_id_ts_mv
TO `$db`.otel_traces_trace_id_ts
AS """
        + _TRACE_ID_TS_SELECT
    )
)

# Tables created before the codecs above and ServiceOperations get them here.
# Timestamp is left as created: the exporter's codec is the one for the sort by
# trace, and migration 9 must not undo it on tables created since (every install
# runs every migration).
# Codec changes touch metadata only: new parts and merges use them, existing
# parts keep theirs until merged. index_granularity cannot change on an existing
# table. Rows of the trace-id table written before have no ServiceOperations;
# trace_by_id then reads by time alone.
STRING_COLUMNS = (  # otel_traces' String columns (codecs, bench/storage_schema.py)
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ScopeName",
    "ScopeVersion",
    "StatusCode",
    "StatusMessage",
)
OTEL_TRACES_CODECS: dict[str, str] = {
    **dict.fromkeys(STRING_COLUMNS, "ZSTD(3)"),
    "ResourceAttributes": "ZSTD(6)",
    "SpanAttributes": "ZSTD(6)",
}

OTEL_TRACES_CODECS_DDL = Statement(
    Template(
        "ALTER TABLE `$db`.otel_traces "
        + ", ".join(f"MODIFY COLUMN {c} CODEC({codec})" for c, codec in OTEL_TRACES_CODECS.items())
    )
)

OTEL_TRACES_TRACE_ID_TS_OPERATIONS_DDL = Statement(
    Template(
        "ALTER TABLE `$db`.otel_traces_trace_id_ts ADD COLUMN IF NOT EXISTS " + _SERVICE_OPERATIONS
    )
)

# Migration 9's view query: the columns of migration 10 do not exist yet when it runs.
OTEL_TRACES_TRACE_ID_TS_MV_QUERY_V9_DDL = Statement(
    Template("ALTER TABLE `$db`.otel_traces_trace_id_ts_mv MODIFY QUERY " + _TRACE_ID_TS_SELECT_V9)
)

OTEL_TRACES_TRACE_ID_TS_SUMMARY_DDL = Statement(
    Template(
        "ALTER TABLE `$db`.otel_traces_trace_id_ts "
        + ", ".join(f"ADD COLUMN IF NOT EXISTS {column}" for column in _SUMMARY_COLUMNS)
    )
)

OTEL_TRACES_TRACE_ID_TS_BLOCKS_DDL = Statement(
    Template("ALTER TABLE `$db`.otel_traces_trace_id_ts MODIFY SETTING " + _TRACE_ID_TS_BLOCKS)
)

OTEL_TRACES_TRACE_ID_TS_MV_QUERY_DDL = Statement(
    Template("ALTER TABLE `$db`.otel_traces_trace_id_ts_mv MODIFY QUERY " + _TRACE_ID_TS_SELECT)
)


def ttl_clause(column: str, ttl_days: int | None) -> str:
    """The TTL line for a table whose rows age by `column`, or nothing."""
    if ttl_days is None:
        return ""
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or ttl_days < 1:
        raise ValueError(f"ttl_days: must be a whole number of days >= 1, got {ttl_days!r}")
    return f"TTL toDateTime({column}) + toIntervalDay({ttl_days})\n"


def render(statement: Statement, database: str, ttl_days: int | None = None) -> str:
    """One DDL statement for `database`, with a TTL line where retention applies."""
    if not DATABASE_NAME.match(database):
        raise ValueError(f"database: must match {DATABASE_NAME.pattern}, got {database!r}")
    ttl = ttl_clause(statement.ttl_column, ttl_days) if statement.ttl_column else ""
    return statement.template.substitute(db=database, ttl=ttl)
