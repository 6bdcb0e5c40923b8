import pytest

from storage.model import SearchOrder, SpanColumns, SpanStatus, TraceSearchQuery
from storage.queries.catalog import render_operations_sql
from storage.queries.trace_by_id import render_trace_sql
from storage.queries.trace_search import (
    lookback_windows,
    render_search_sql,
    render_summary_sql,
)
from storage.writer import check_columns

HOUR = 3_600 * 10**9


def where_of(sql: str) -> str:
    return sql.split("WHERE", 1)[1].split("GROUP BY", 1)[0]


def test_no_filters_finds_recent_traces() -> None:
    sql, params = render_search_sql(TraceSearchQuery())
    assert params == {"limit": 20}
    assert where_of(sql).strip() == "true"
    assert "GROUP BY TraceId\nHAVING TraceId != ''\n" in sql  # after grouping: cheap
    assert "FROM `meshlens`.otel_traces" in sql
    assert "ORDER BY matched_at DESC, TraceId" in sql
    assert "LIMIT {limit:UInt32}" in sql


def test_every_filter_is_a_parameter() -> None:
    q = TraceSearchQuery(
        service="checkout",
        operation="POST /pay",
        attributes=(("http.route", "/pay"), ("k8s.namespace", "shop")),
        min_duration_ns=5,
        max_duration_ns=9,
        status=SpanStatus.ERROR,
        start_ns=100,
        end_ns=200,
        limit=7,
    )
    sql, params = render_search_sql(q, "db1")
    where = where_of(sql)
    assert params == {
        "limit": 7,
        "service": "checkout",
        "operation": "POST /pay",
        "attr_key_0": "http.route",
        "attr_value_0": "/pay",
        "attr_key_1": "k8s.namespace",
        "attr_value_1": "shop",
        "min_duration_ns": 5,
        "max_duration_ns": 9,
        "status": "Error",
        "start_ns": 100,
        "end_ns": 200,
    }
    for fragment in (
        "ServiceName = {service:String}",
        "SpanName = {operation:String}",
        "SpanAttributes[{attr_key_0:String}] = {attr_value_0:String}",
        "ResourceAttributes[{attr_key_1:String}] = {attr_value_1:String}",
        "Duration >= {min_duration_ns:UInt64}",
        "Duration <= {max_duration_ns:UInt64}",
        "StatusCode = {status:String}",
        "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
        "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})",
    ):
        assert fragment in where, fragment
    assert "FROM `db1`.otel_traces" in sql


def test_user_values_never_reach_the_sql_text() -> None:
    hostile = "x' OR 1=1 --"
    q = TraceSearchQuery(service=hostile, operation=hostile, attributes=((hostile, hostile),))
    sql, params = render_search_sql(q)
    assert hostile not in sql
    assert list(params.values()).count(hostile) == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (TraceSearchQuery(limit=0), "limit"),
        (TraceSearchQuery(limit=1001), "limit"),
        (TraceSearchQuery(limit=True), "limit"),
        (TraceSearchQuery(min_duration_ns=-1), "min_duration_ns"),
        (TraceSearchQuery(max_duration_ns=-1), "max_duration_ns"),
        (TraceSearchQuery(min_duration_ns=10, max_duration_ns=5), "min_duration_ns"),
        (TraceSearchQuery(start_ns=10, end_ns=5), "start_ns"),
        (TraceSearchQuery(end_ns=-5), "end_ns"),
        (TraceSearchQuery(status="error"), "status"),  # type: ignore[arg-type]
        (TraceSearchQuery(attributes=(("", "v"),)), "attributes[0]"),
    ],
)
def test_bad_queries_are_refused_by_field(query: TraceSearchQuery, field: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{field.replace('[', '.').replace(']', '.')}:"):
        render_search_sql(query)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        render_search_sql(TraceSearchQuery(limit=0, start_ns=3, end_ns=1))
    assert "limit:" in str(info.value) and "start_ns:" in str(info.value)


def test_limit_bounds_are_accepted() -> None:
    assert render_search_sql(TraceSearchQuery(limit=1))[1]["limit"] == 1
    assert render_search_sql(TraceSearchQuery(limit=1000))[1]["limit"] == 1000
    assert render_search_sql(TraceSearchQuery(status="Ok"))[1]["status"] == "Ok"  # type: ignore[arg-type]


def test_summary_reads_every_span_of_the_found_traces_within_their_extent() -> None:
    sql, params = render_summary_sql(["a", "b"])
    assert params == {"trace_ids": ["a", "b"]}
    assert "WHERE TraceId IN {trace_ids:Array(String)}" in sql
    assert "min(Start) FROM `meshlens`.otel_traces_trace_id_ts" in sql
    assert "argMin(ServiceName, (ParentSpanId != '', Timestamp))" in sql
    assert "countIf(StatusCode = 'Error')" in sql


def test_trace_by_id_reads_the_spans_by_their_key() -> None:
    sql, params = render_trace_sql("meshlens", "abc")
    assert params == {"trace_id": "abc"}
    assert "otel_traces_trace_id_ts" not in sql  # the primary key needs no time bounds
    assert "FROM `meshlens`.otel_traces\nWHERE TraceId = {trace_id:String}\nORDER BY" in sql
    assert sql.endswith("ORDER BY Timestamp, SpanId")


def test_trace_by_id_in_the_exporters_order_reads_at_keys_and_times_in_one_query() -> None:
    sql, params = render_trace_sql("meshlens", "abc", by_trace=False)
    assert params == {"trace_id": "abc"}
    assert "groupUniqArrayArray(ServiceOperations)" in sql
    assert "FROM `meshlens`.otel_traces_trace_id_ts\n    WHERE TraceId = {trace_id:String}" in sql
    assert "FROM `meshlens`.otel_traces\nWHERE TraceId = {trace_id:String}" in sql
    assert "Timestamp BETWEEN extent.1 AND extent.2" in sql
    # the primary key's leading columns, unless a batch was written without them
    assert "(extent.4 OR (ServiceName, SpanName) IN extent.3)" in sql
    assert sql.endswith("ORDER BY Timestamp, SpanId")


def test_operations_filter_by_service_only_when_given() -> None:
    assert "WHERE" not in render_operations_sql("meshlens", None)[0]
    sql, params = render_operations_sql("meshlens", "api")
    assert "WHERE ServiceName = {service:String}" in sql and params == {"service": "api"}


def test_ragged_batches_name_the_short_column() -> None:
    batch = SpanColumns(SpanId=["a", "b"], Timestamp=[1, 2])
    with pytest.raises(ValueError, match=r"SpanColumns\.TraceId: has 0 values"):
        check_columns(batch)
    assert check_columns(SpanColumns()) == 0


def test_windows_tile_the_range_newest_first() -> None:
    a = 100 * HOUR
    assert lookback_windows(None, None, a) == [
        (a - HOUR, None),
        (a - 4 * HOUR, a - HOUR),
        (a - 16 * HOUR, a - 4 * HOUR),
        (None, a - 16 * HOUR),
    ]
    assert lookback_windows(a - 2 * HOUR, a, a) == [(a - HOUR, a), (a - 2 * HOUR, a - HOUR)]
    assert lookback_windows(a - HOUR, a, a) == [(a - HOUR, a)]
    # near the epoch, or on an empty table (anchor 0): one open window
    assert lookback_windows(None, None, 0) == [(None, None)]
    assert lookback_windows(5, 5, 5) == [(5, 5)]


def test_window_bounds_are_parameters_within_the_query_range() -> None:
    q = TraceSearchQuery(start_ns=10, end_ns=500)
    sql, params = render_search_sql(q, "meshlens", (100, 200))
    assert params["start_ns"] == 100 and params["end_ns"] == 200
    assert "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})" in sql
    sql, params = render_search_sql(q, "meshlens", (None, None))
    assert "start_ns" not in params and "Timestamp" not in where_of(sql)


def test_longest_spans_bound_the_ranked_spans_by_the_same_filters() -> None:
    q = TraceSearchQuery(service="api", order_by=SearchOrder.DURATION, limit=5)
    sql, params = render_search_sql(q, "meshlens", longest_spans=10)
    assert params == {"limit": 5, "service": "api", "longest_spans": 10}
    bound = where_of(sql).split("AND Duration >= (SELECT min(Duration) FROM (", 1)[1]
    assert "ServiceName = {service:String}" in bound
    assert "ORDER BY Duration DESC LIMIT {longest_spans:UInt32}))" in bound


def test_trace_by_id_past_a_week_is_bounded_by_its_extent() -> None:
    assert render_trace_sql("meshlens", "abc", days=7) == render_trace_sql("meshlens", "abc")
    sql, params = render_trace_sql("meshlens", "abc", days=8)
    assert params == {"trace_id": "abc"}
    assert "SELECT (min(Start), max(End))\n    FROM `meshlens`.otel_traces_trace_id_ts" in sql
    assert "WHERE TraceId = {trace_id:String}\n  AND Timestamp BETWEEN extent.1 AND extent.2" in sql
    assert "ServiceOperations" not in sql  # sorted by trace: the time is enough
