"""Trace search: which traces have a span matching every filter, and their summaries.

Two steps. `render_search_sql` finds the matching trace ids, ranked by the newest
(or the longest) matching span; `render_index_summary_sql` then summarizes those
traces from their rows in `otel_traces_trace_id_ts` (migration 10), and
`render_summary_sql` from all their spans those that have a row written before it.
Every user value, attribute keys included, is a query parameter.

Newest first, the ids are looked for in time windows going back from the newest
span (or the query's end): the last hour, the 3 before, the 12 before, then all
older (`lookback_windows`). A search stops at the window where it has `limit`
traces. That is exact: a trace's rank is its newest matching span, so every trace
first matched in a window ranks below every trace matched in a newer one. Most
searches of a busy mesh are answered by the last hour, which the time column of
the primary key and the daily partitions cut to a fraction of the spans; a
search matching few traces reads everything, as before, in up to four queries.
By duration, the ranking first reads only the longest matching spans.
Measurements: docs/benchmarks.md, "Searches and trace by id at 10M".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.model import SearchOrder, SpanStatus, TraceSearchQuery, TraceSummary

MAX_LIMIT = 1000
_UINT64_MAX = 2**64 - 1
_INT64_MAX = 2**63 - 1
_HOUR_NS = 3_600 * 10**9

# How far back each window reaches from the anchor; after the last, all older spans.
LOOKBACK_NS = (_HOUR_NS, 4 * _HOUR_NS, 16 * _HOUR_NS)

LONGEST_SPANS_SQL = """Duration >= (SELECT min(Duration) FROM (
    SELECT Duration FROM `{db}`.otel_traces
    WHERE {where}
    ORDER BY Duration DESC LIMIT {{longest_spans:UInt32}}))"""

NEWEST_SPAN_SQL = "SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM `{db}`.otel_traces"

# No span we write lacks a TraceId (the collector refuses invalid ids), but the
# table is the exporter's and others may write it: HAVING drops such spans after
# grouping. In WHERE the condition would read TraceId first for every span of the
# range, its column being small in a table sorted by trace (PREWHERE takes the
# smallest first): the longest-spans ranking 217 -> 161 ms at 10M.
SEARCH_SQL = """SELECT TraceId, max({rank_column}) AS {rank}
FROM `{db}`.otel_traces
WHERE {where}
GROUP BY TraceId
HAVING TraceId != ''
ORDER BY {rank} DESC, TraceId
LIMIT {{limit:UInt32}}"""

# Ranking by the longest *matching span*: exact for searches that match root spans
# (an entry service and operation), and it needs no second pass over whole traces.
_RANKS = {
    SearchOrder.TIME: ("Timestamp", "matched_at"),
    SearchOrder.DURATION: ("Duration", "longest"),
}

# The root is the span without a parent, else the earliest: in the tuple
# (has a parent, start), false sorts before true, so argMin finds exactly that.
SUMMARY_SQL = """SELECT
    TraceId,
    toUnixTimestamp64Nano(min(Timestamp)) AS start_ns,
    max(toUnixTimestamp64Nano(Timestamp) + Duration) - start_ns AS duration_ns,
    argMin(ServiceName, (ParentSpanId != '', Timestamp)) AS root_service,
    argMin(SpanName, (ParentSpanId != '', Timestamp)) AS root_operation,
    count() AS span_count,
    countIf(StatusCode = 'Error') AS error_count,
    arraySort(groupUniqArray(ServiceName)) AS services
FROM `{db}`.otel_traces
WHERE TraceId IN {{trace_ids:Array(String)}}
  AND Timestamp >= (SELECT min(Start) FROM `{db}`.otel_traces_trace_id_ts
                    WHERE TraceId IN {{trace_ids:Array(String)}})
  AND Timestamp <= (SELECT max(End) FROM `{db}`.otel_traces_trace_id_ts
                    WHERE TraceId IN {{trace_ids:Array(String)}})
GROUP BY TraceId"""

# The same summaries from the trace-id table's per-batch rows (migration 10):
# a row per trace and batch instead of every span. `complete` is false for a trace
# with a row written before migration 10 (SpanCount 0); SUMMARY_SQL does those.
# Root is the least (has a parent, start, service, operation) of every batch, so
# among roots starting at the same nanosecond the least service wins (SUMMARY_SQL:
# any of them).
INDEX_SUMMARY_SQL = """SELECT
    TraceId,
    toUnixTimestamp64Nano(min(Start)) AS start_ns,
    max(SpansEndNs) - start_ns AS duration_ns,
    min(Root).3 AS root_service,
    min(Root).4 AS root_operation,
    sum(SpanCount) AS span_count,
    sum(ErrorCount) AS error_count,
    arraySort(arrayDistinct(groupArrayArray(ServiceOperations.ServiceName))) AS services,
    min(SpanCount) > 0 AS complete
FROM `{db}`.otel_traces_trace_id_ts
WHERE TraceId IN {{trace_ids:Array(String)}}
GROUP BY TraceId"""


def validate_query(q: TraceSearchQuery) -> None:
    """ValueError listing every bad field of `q`, each by name."""
    problems: list[str] = []
    if isinstance(q.limit, bool) or not isinstance(q.limit, int) or not 1 <= q.limit <= MAX_LIMIT:
        problems.append(f"limit: must be 1..{MAX_LIMIT}, got {q.limit!r}")
    for name, bound in (("min_duration_ns", _UINT64_MAX), ("max_duration_ns", _UINT64_MAX)):
        value = getattr(q, name)
        if value is not None and not 0 <= value <= bound:
            problems.append(f"{name}: must be 0..{bound}, got {value!r}")
    if (
        q.min_duration_ns is not None
        and q.max_duration_ns is not None
        and q.min_duration_ns > q.max_duration_ns
    ):
        problems.append(
            f"min_duration_ns: {q.min_duration_ns} is above max_duration_ns {q.max_duration_ns}"
        )
    for name in ("start_ns", "end_ns"):
        value = getattr(q, name)
        if value is not None and not 0 <= value <= _INT64_MAX:
            problems.append(f"{name}: must be 0..{_INT64_MAX}, got {value!r}")
    if q.start_ns is not None and q.end_ns is not None and q.start_ns > q.end_ns:
        problems.append(f"start_ns: {q.start_ns} is after end_ns {q.end_ns}")
    if q.status is not None and q.status not in tuple(SpanStatus):
        problems.append(f"status: must be one of {', '.join(SpanStatus)}, got {q.status!r}")
    for i, pair in enumerate(q.attributes):
        if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
            problems.append(f"attributes[{i}]: must be a (key, value) pair of strings")
        elif not pair[0]:
            problems.append(f"attributes[{i}]: key must not be empty")
    for i, pair in enumerate(q.attribute_patterns):
        if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
            problems.append(f"attribute_patterns[{i}]: must be a (key, regex) pair of strings")
        elif not pair[0] or not pair[1]:
            problems.append(f"attribute_patterns[{i}]: key and regex must not be empty")
    if q.version is not None and not isinstance(q.version, str):
        problems.append(f"version: must be a string, got {q.version!r}")
    if q.order_by not in tuple(SearchOrder):
        problems.append(f"order_by: must be one of {', '.join(SearchOrder)}, got {q.order_by!r}")
    if problems:
        raise ValueError("invalid TraceSearchQuery: " + "; ".join(problems))


def lookback_windows(
    start_ns: int | None, end_ns: int | None, anchor_ns: int
) -> list[tuple[int | None, int | None]]:
    """[start, end) ranges (None: open) that tile the query's range [start_ns, end_ns),
    newest first: up to `anchor_ns` - 1 h, then back to - 4 h, - 16 h, then the rest."""
    windows: list[tuple[int | None, int | None]] = []
    upper = end_ns
    for reach in LOOKBACK_NS:
        lower = anchor_ns - reach
        if lower <= 0 or (start_ns is not None and lower <= start_ns):
            break
        if upper is None or lower < upper:
            windows.append((lower, upper))
            upper = lower
    windows.append((start_ns, upper))
    return windows


def render_search_sql(
    q: TraceSearchQuery,
    database: str = "meshlens",
    window: tuple[int | None, int | None] | None = None,
    *,
    longest_spans: int | None = None,
) -> tuple[str, dict[str, object]]:
    """SQL and parameters for the ids of matching traces; the time range is [start, end),
    or the `window` of it (from `lookback_windows`) if given. With `longest_spans`,
    only matching spans at least as long as the `longest_spans`-th longest count."""
    validate_query(q)
    start_ns, end_ns = (q.start_ns, q.end_ns) if window is None else window
    where: list[str] = []
    params: dict[str, object] = {"limit": q.limit}
    if q.service is not None:
        where.append("ServiceName = {service:String}")
        params["service"] = q.service
    if q.operation is not None:
        where.append("SpanName = {operation:String}")
        params["operation"] = q.operation
    for i, (key, value) in enumerate(q.attributes):
        k, v = f"attr_key_{i}", f"attr_value_{i}"
        where.append(_in_either_map(k, v, regex=False))
        params[k], params[v] = key, value
    for i, (key, pattern) in enumerate(q.attribute_patterns):
        k, p = f"attr_re_key_{i}", f"attr_re_{i}"
        where.append(_in_either_map(k, p, regex=True))
        params[k], params[p] = key, pattern
    if q.version is not None:
        where.append("ResourceAttributes['service.version'] = {version:String}")
        params["version"] = q.version
    if q.min_duration_ns is not None:
        where.append("Duration >= {min_duration_ns:UInt64}")
        params["min_duration_ns"] = q.min_duration_ns
    if q.max_duration_ns is not None:
        where.append("Duration <= {max_duration_ns:UInt64}")
        params["max_duration_ns"] = q.max_duration_ns
    if q.status is not None:
        where.append("StatusCode = {status:String}")
        params["status"] = str(q.status)
    if start_ns is not None:
        where.append("Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})")
        params["start_ns"] = start_ns
    if end_ns is not None:
        where.append("Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})")
        params["end_ns"] = end_ns
    if longest_spans is not None:
        # A scalar subquery runs before index analysis: idx_duration (minmax) then
        # skips the granules of shorter spans.
        where.append(
            LONGEST_SPANS_SQL.format(db=database, where="\n      AND ".join(where) or "true")
        )
        params["longest_spans"] = longest_spans
    rank_column, rank = _RANKS[SearchOrder(q.order_by)]
    sql = SEARCH_SQL.format(
        db=database, where="\n  AND ".join(where) or "true", rank_column=rank_column, rank=rank
    )
    return sql, params


def render_summary_sql(
    trace_ids: list[str], database: str = "meshlens"
) -> tuple[str, dict[str, object]]:
    return SUMMARY_SQL.format(db=database), {"trace_ids": trace_ids}


def render_index_summary_sql(
    trace_ids: list[str], database: str = "meshlens"
) -> tuple[str, dict[str, object]]:
    return INDEX_SUMMARY_SQL.format(db=database), {"trace_ids": trace_ids}


def search_traces(client: Client, database: str, q: TraceSearchQuery) -> list[TraceSummary]:
    """Summaries of the matching traces: by time, newest trace start first; by
    duration, the traces with the longest matching spans, longest trace first."""
    trace_ids = _matching_trace_ids(client, database, q)
    if not trace_ids:
        return []
    sql, params = render_index_summary_sql(trace_ids, database)
    rows = client.query(sql, parameters=params).result_rows
    summaries = [_summary(row) for row in rows if row[8]]
    # Traces with a batch written before migration 10, or (TTL) no trace-id row left.
    rest = sorted(set(trace_ids) - {s.trace_id for s in summaries})
    if rest:
        sql, params = render_summary_sql(rest, database)
        summaries += [_summary(row) for row in client.query(sql, parameters=params).result_rows]
    if q.order_by == SearchOrder.DURATION:
        summaries.sort(key=lambda s: (-s.duration_ns, s.trace_id))
    else:
        summaries.sort(key=lambda s: (-s.start_ns, s.trace_id))
    return summaries


def _summary(row: Sequence[Any]) -> TraceSummary:
    return TraceSummary(
        trace_id=row[0],
        start_ns=int(row[1]),
        duration_ns=int(row[2]),
        root_service=row[3],
        root_operation=row[4],
        span_count=int(row[5]),
        error_count=int(row[6]),
        services=tuple(row[7]),
    )


def _matching_trace_ids(client: Client, database: str, q: TraceSearchQuery) -> list[str]:
    """The ids of the `q.limit` best-ranked matching traces, best first."""
    if q.order_by == SearchOrder.DURATION:
        # Among the spans at least as long as the 2 * limit-th longest: exact when
        # they are of `limit` traces or more (no other trace has a longer matching
        # span); else, as when few spans match, the search runs over all of them.
        sql, params = render_search_sql(q, database, longest_spans=2 * q.limit)
        ids = [row[0] for row in client.query(sql, parameters=params).result_rows]
        if len(ids) == q.limit:
            return ids
        sql, params = render_search_sql(q, database)
        return [row[0] for row in client.query(sql, parameters=params).result_rows]
    anchor = q.end_ns
    if anchor is None:
        anchor = int(client.query(NEWEST_SPAN_SQL.format(db=database)).result_rows[0][0])
    found: dict[str, None] = {}
    for window in lookback_windows(q.start_ns, q.end_ns, anchor):
        sql, params = render_search_sql(q, database, window)
        for row in client.query(sql, parameters=params).result_rows:
            found.setdefault(row[0])  # matched in a newer window: ranked there
            if len(found) == q.limit:
                return list(found)
    return list(found)


def _in_either_map(key_param: str, value_param: str, *, regex: bool) -> str:
    """The span or the resource attribute `key_param` equals (or matches) `value_param`.

    mapContains keeps `key=` (empty value) from matching spans without the key.
    """
    conditions = []
    for column in ("SpanAttributes", "ResourceAttributes"):
        attr = f"{column}[{{{key_param}:String}}]"
        wanted = f"{{{value_param}:String}}"
        test = f"match({attr}, {wanted})" if regex else f"{attr} = {wanted}"
        conditions.append(f"(mapContains({column}, {{{key_param}:String}}) AND {test})")
    return f"({conditions[0]} OR {conditions[1]})"
