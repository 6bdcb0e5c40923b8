"""The SQL each query module renders: filters as parameters, never as text."""

from __future__ import annotations

import pytest

from storage import RedSeriesQuery, SearchOrder, TraceSearchQuery, VersionSamplesQuery
from storage.queries.attribute_catalog import render_keys_sql, render_values_sql
from storage.queries.red_series import render_red_series_sql
from storage.queries.service_map import render_nodes_sql
from storage.queries.slowest_traces import render_slowest_sql, render_thresholds_sql
from storage.queries.trace_search import render_search_sql
from storage.queries.version_samples import render_samples_sql

HOSTILE = "x' OR 1=1 --"


def test_search_regex_version_and_duration_order() -> None:
    q = TraceSearchQuery(
        attribute_patterns=(("http.route", "^/cart/\\d+$"),),
        version="v2",
        order_by=SearchOrder.DURATION,
    )
    sql, params = render_search_sql(q, "db1")
    assert "match(SpanAttributes[{attr_re_key_0:String}], {attr_re_0:String})" in sql
    assert "match(ResourceAttributes[{attr_re_key_0:String}], {attr_re_0:String})" in sql
    assert "mapContains(SpanAttributes, {attr_re_key_0:String})" in sql
    assert "ResourceAttributes['service.version'] = {version:String}" in sql
    assert "SELECT TraceId, max(Duration) AS longest" in sql
    assert "ORDER BY longest DESC, TraceId" in sql
    assert params["attr_re_0"] == "^/cart/\\d+$" and params["version"] == "v2"
    by_time, _ = render_search_sql(TraceSearchQuery())
    assert "max(Timestamp) AS matched_at" in by_time and "ORDER BY matched_at DESC" in by_time


@pytest.mark.parametrize(
    ("q", "field"),
    [
        (TraceSearchQuery(attribute_patterns=(("", "x"),)), "attribute_patterns[0]"),
        (TraceSearchQuery(attribute_patterns=(("k", ""),)), "attribute_patterns[0]"),
        (TraceSearchQuery(order_by="size"), "order_by"),  # type: ignore[arg-type]
    ],
)
def test_bad_search_fields_are_named(q: TraceSearchQuery, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[")):
        render_search_sql(q)


def test_attribute_keys_and_values() -> None:
    sql, params = render_keys_sql("m", service=HOSTILE, prefix="http.", start_s=10, end_s=20)
    assert "FROM `m`.otel_traces_attributes" in sql
    assert "ServiceName = {service:String}" in sql and "startsWith(Key, {prefix:String})" in sql
    assert "Day >= toDate(toDateTime({start_s:UInt32}))" in sql
    assert "GROUP BY Key\nORDER BY spans DESC, Key" in sql and HOSTILE not in sql
    assert params == {
        "service": HOSTILE,
        "prefix": "http.",
        "start_s": 10,
        "end_s": 20,
        "limit": 100,
    }
    sql, params = render_values_sql("m", "http.route", limit=5)
    assert "WHERE Key = {key:String} AND Value != ''" in sql and "GROUP BY Value" in sql
    assert params == {"key": "http.route", "limit": 5}
    assert "WHERE 1" in render_keys_sql("m")[0]
    with pytest.raises(ValueError, match="limit"):
        render_keys_sql("m", limit=0)
    with pytest.raises(ValueError, match="key"):
        render_values_sql("m", "")


def test_red_series_buckets_and_groups() -> None:
    q = RedSeriesQuery("api", 0, 3_600, step_s=300, version="v2", group_by=("version", "operation"))
    sql, params = render_red_series_sql("m", q)
    assert "toStartOfInterval(Minute, toIntervalSecond({step_s:UInt32}))" in sql
    assert "Operation, ServiceVersion, sum(Requests)" in sql  # group columns in a fixed order
    assert "GROUP BY bucket, Operation, ServiceVersion" in sql
    assert "ServiceVersion = {version:String}" in sql and "sumMap(DurationBuckets)" in sql
    assert params == {
        "service": "api",
        "start_s": 0,
        "end_s": 3_600,
        "step_s": 300,
        "version": "v2",
    }
    plain, _ = render_red_series_sql("m", RedSeriesQuery("api", 0, 60))
    assert "GROUP BY bucket\nORDER BY bucket" in plain


@pytest.mark.parametrize(
    ("q", "problem"),
    [
        (RedSeriesQuery("", 0, 60), "service"),
        (RedSeriesQuery("a", 60, 60), "end_s"),
        (RedSeriesQuery("a", 0, 60, step_s=30), "step_s"),
        (RedSeriesQuery("a", 0, 10**9), "more than"),
        (RedSeriesQuery("a", 0, 60, group_by=("caller",)), "group_by"),
    ],
)
def test_bad_red_series_is_refused(q: RedSeriesQuery, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        render_red_series_sql("m", q)


def test_service_map_nodes() -> None:
    sql, params = render_nodes_sql("m", 0, 60)
    assert "FROM `m`.red_1m" in sql and "GROUP BY ServiceName" in sql
    assert params == {"start_s": 0, "end_s": 60}
    with pytest.raises(ValueError, match="end_s"):
        render_nodes_sql("m", 60, 60)


def test_version_samples() -> None:
    q = VersionSamplesQuery("api", "v1", "v2", 5, 9, operation="GET /", limit=7)
    sql, params = render_samples_sql("m", q)
    for fragment in (
        "ResourceAttributes['service.version'] AS version",
        "SpanKind = 'Server'",
        "SpanName = {operation:String}",
        "version IN {versions:Array(String)}",
        "ORDER BY Timestamp DESC\nLIMIT {limit:UInt32} BY version",
    ):
        assert fragment in sql, fragment
    assert params["versions"] == ["v1", "v2"] and params["limit"] == 7
    with pytest.raises(ValueError, match=r"service.*end_ns.*limit"):
        render_samples_sql("m", VersionSamplesQuery("", "a", "b", 9, 5, limit=0))


def test_slowest_traces() -> None:
    sql, params = render_slowest_sql("m", "api", 0, 10, per_operation=3)
    assert "LIMIT 1 BY SpanName, TraceId" in sql
    assert "LIMIT {per_operation:UInt32} BY SpanName" in sql
    assert "ORDER BY SpanName, Duration DESC, TraceId" in sql
    assert "AND TraceId != ''" in sql and "transform(" not in sql
    assert params == {"service": "api", "start_ns": 0, "end_ns": 10, "per_operation": 3}
    with pytest.raises(ValueError, match="per_operation"):
        render_slowest_sql("m", "api", 0, 10, per_operation=1000)


def test_slowest_traces_thresholds() -> None:
    sql, params = render_thresholds_sql("m", "api", 0, 10, operation="GET /", per_operation=3)
    # Only the small columns: TraceId, SpanId and StatusCode are read in the second step.
    assert "groupArraySorted({candidates:UInt32})(-toInt64(Duration))" in sql
    assert "SpanName = {operation:String}" in sql and "GROUP BY SpanName" in sql
    assert not any(column in sql for column in ("TraceId", "SpanId", "StatusCode"))
    assert params == {
        "service": "api", "operation": "GET /", "start_ns": 0, "end_ns": 10, "candidates": 12,
    }  # fmt: skip
    ranked, params = render_slowest_sql("m", "api", 0, 10, per_operation=3,
                                        thresholds={"GET /": 7, HOSTILE: 9})  # fmt: skip
    assert (
        "AND Duration >= transform(SpanName, {threshold_operations:Array(String)}, "
        "{threshold_durations:Array(UInt64)}, toUInt64(0))"
    ) in ranked
    assert HOSTILE not in ranked
    assert params["threshold_operations"] == ["GET /", HOSTILE]
    assert params["threshold_durations"] == [7, 9]
    with pytest.raises(ValueError, match=r"service.*end_ns.*per_operation"):
        render_thresholds_sql("m", "", 10, 10, per_operation=0)
