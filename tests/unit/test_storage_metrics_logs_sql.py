"""The metric and log tables: DDL columns match what the collector writes, and the
read queries render the SQL they should, every filter a parameter."""

from __future__ import annotations

import re

import pytest

from storage import LogQuery, MetricPointsQuery, MetricType
from storage.columns import RowColumns
from storage.logs_model import LogColumns
from storage.metrics_model import METRIC_TABLES, MetricColumns
from storage.queries.log_records import render_logs_sql
from storage.queries.metric_points import render_points_sql
from storage.schema import Statement, render
from storage.schema_logs import OTEL_LOGS_DDL
from storage.schema_metrics import OTEL_METRICS_DDL

HOSTILE = "x' OR 1=1 --"


def ddl_columns(statement: Statement) -> dict[str, str]:
    """Column name (Nested ones dotted) -> type, from a rendered CREATE TABLE."""
    columns: dict[str, str] = {}
    nested = ""
    for line in render(statement, "m").splitlines()[1:]:
        line = line.strip().rstrip(",")
        if line.startswith(("INDEX", ") ENGINE")):
            break
        if m := re.fullmatch(r"(\w+) Nested \(", line):
            nested = m[1] + "."
        elif line.startswith(")"):
            nested = ""
        else:
            name, kind = line.split(" ", 1)
            columns[nested + name] = kind.split(" CODEC")[0].split(" DEFAULT")[0]
    return columns


@pytest.mark.parametrize("field", list(METRIC_TABLES))
def test_metric_tables_have_the_columns_the_collector_writes(field: str) -> None:
    table = METRIC_TABLES[field]
    [statement] = [s for s in OTEL_METRICS_DDL if f".{table} (" in s.template.template]
    columns = ddl_columns(statement)
    written: RowColumns = getattr(MetricColumns(), field)
    assert set(columns) == set(written.column_names())
    # The upstream exporter's types, for the columns every table has.
    assert columns["TimeUnix"] == "DateTime64(9)"
    assert columns["Attributes"] == "Map(LowCardinality(String), String)"
    assert columns["ServiceName"] == "LowCardinality(String)"


def test_logs_table_has_the_columns_the_collector_writes() -> None:
    columns = ddl_columns(OTEL_LOGS_DDL)
    assert set(columns) - {"TimestampTime"} == set(LogColumns.column_names())
    assert columns["TimestampTime"] == "DateTime"  # filled by its DEFAULT
    assert (columns["SeverityNumber"], columns["TraceFlags"]) == ("UInt8", "UInt8")


def test_metric_and_log_tables_deduplicate_and_age() -> None:
    for statement in (*OTEL_METRICS_DDL, OTEL_LOGS_DDL):
        sql = render(statement, "m", 7)
        assert "non_replicated_deduplication_window = 1000" in sql
        assert "toIntervalDay(7)" in sql and "ttl_only_drop_parts = 1" in sql


def test_points_of_a_metric_without_filters() -> None:
    sql, params = render_points_sql("m", MetricPointsQuery(MetricType.GAUGE, "temperature"))
    assert sql == (
        "SELECT ServiceName, MetricName, MetricUnit, MetricDescription,\n"
        "    toUnixTimestamp64Nano(StartTimeUnix) AS StartTimeNs,\n"
        "    toUnixTimestamp64Nano(TimeUnix) AS TimeNs,\n"
        "    Attributes, ResourceAttributes, ScopeName,\n"
        "    Value, Flags, Exemplars.Value, Exemplars.SpanId, Exemplars.TraceId\n"
        "FROM `m`.otel_metrics_gauge\n"
        "WHERE MetricName = {name:String}\n"
        "ORDER BY TimeUnix, ServiceName\n"
        "LIMIT {limit:UInt32}"
    )
    assert params == {"name": "temperature", "limit": 1000}


def test_points_filters_are_parameters() -> None:
    q = MetricPointsQuery(
        MetricType.EXPONENTIAL_HISTOGRAM, HOSTILE, service=HOSTILE, start_ns=1, end_ns=2, limit=5
    )
    sql, params = render_points_sql("m", q)
    assert "FROM `m`.otel_metrics_exponential_histogram\n" in sql
    assert "PositiveBucketCounts, NegativeOffset" in sql
    assert (
        "WHERE MetricName = {name:String}\n"
        "  AND ServiceName = {service:String}\n"
        "  AND TimeUnix >= fromUnixTimestamp64Nano({start_ns:Int64})\n"
        "  AND TimeUnix < fromUnixTimestamp64Nano({end_ns:Int64})\n"
    ) in sql
    assert HOSTILE not in sql
    assert params == {"name": HOSTILE, "service": HOSTILE, "start_ns": 1, "end_ns": 2, "limit": 5}


@pytest.mark.parametrize("metric_type", list(MetricType))
def test_every_type_reads_its_own_table(metric_type: MetricType) -> None:
    sql, _ = render_points_sql("m", MetricPointsQuery(metric_type, "x"))
    assert f"FROM `m`.otel_metrics_{metric_type.value}\n" in sql


def test_bad_point_query_fields_are_named_together() -> None:
    with pytest.raises(ValueError, match=r"name: must be a metric name.*limit: must be 1\.\."):
        render_points_sql("m", MetricPointsQuery(MetricType.SUM, "", limit=0))
    with pytest.raises(ValueError, match="end_ns: 5 must be after start_ns 9"):
        render_points_sql("m", MetricPointsQuery(MetricType.SUM, "x", start_ns=9, end_ns=5))
    with pytest.raises(ValueError, match="metric_type: must be one of"):
        render_points_sql("m", MetricPointsQuery("counter", "x"))  # type: ignore[arg-type]


def test_logs_newest_first_without_filters() -> None:
    sql, params = render_logs_sql("m", LogQuery())
    assert sql == (
        "SELECT toUnixTimestamp64Nano(Timestamp) AS TimestampNs,\n"
        "    ServiceName, Body, SeverityText, SeverityNumber, TraceId, SpanId, TraceFlags,\n"
        "    LogAttributes, ResourceAttributes, ScopeName, ScopeVersion\n"
        "FROM `m`.otel_logs\n"
        "ORDER BY Timestamp DESC\n"
        "LIMIT {limit:UInt32}"
    )
    assert params == {"limit": 100}


def test_log_filters_are_parameters() -> None:
    trace_id = "ab" * 16
    q = LogQuery(service=HOSTILE, trace_id=trace_id, min_severity=17, severity_text=HOSTILE,
                 start_ns=10, end_ns=20, limit=7)  # fmt: skip
    sql, params = render_logs_sql("m", q)
    assert (
        "FROM `m`.otel_logs\n"
        "WHERE ServiceName = {service:String}\n"
        "  AND TraceId = {trace_id:String}\n"
        "  AND SeverityNumber >= {min_severity:UInt8}\n"
        "  AND SeverityText = {severity_text:String}\n"
        "  AND Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})\n"
        "  AND Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})\n"
        "ORDER BY Timestamp DESC"
    ) in sql
    assert HOSTILE not in sql
    assert params == {"limit": 7, "service": HOSTILE, "trace_id": trace_id, "min_severity": 17,
                      "severity_text": HOSTILE, "start_ns": 10, "end_ns": 20}  # fmt: skip


def test_bad_log_query_fields_are_named_together() -> None:
    with pytest.raises(
        ValueError, match=r"limit: must be 1\.\.10000, got 0; min_severity: must be 0\.\.24.*"
        r"trace_id: must be 32 lowercase hex"
    ):
        render_logs_sql("m", LogQuery(limit=0, min_severity=99, trace_id="XYZ"))
