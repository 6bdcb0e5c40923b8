"""The slowest traces per operation of a service: where to start looking at a p99.

Ranked by the duration of the operation's own span, one entry per trace (a
trace calling the operation twice counts once, with its slower call), at most
`per_operation` per operation.

Two steps, because otel_traces is sorted by trace, not by service: every granule
of the range holds spans of the service, and ranking them all needs TraceId,
SpanId and StatusCode of every one. The first step reads only the small columns
to find, per operation, the duration of its CANDIDATES_PER_TRACE * per_operation-th
longest span; the second is the ranking itself, kept to spans at least that long,
so it reads the wide columns only in granules holding one. Exact: any threshold
leaves each trace that reaches it with its slowest call, and if at least
`per_operation` traces reach it, no trace below it can rank among them. When
fewer do (the candidates were many calls of a few traces), the ranking runs
again without thresholds. At 10M spans, one service over 24 h: 800 -> 290 ms
(per_operation 5), 860 -> 430 ms (20); over 1 h both ~55 ms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

MAX_PER_OPERATION = 100
# Candidate spans per trace wanted: most traces call an operation once, so 4x
# leaves room for repeated calls before the answer needs the second ranking.
CANDIDATES_PER_TRACE = 4

# The k longest durations are the k least negated ones: groupArraySorted keeps
# k per operation where ORDER BY ... LIMIT k BY sorts every span (24 h, 270k
# spans: 150 vs 230 ms). No `TraceId != ''` here: it would read TraceId for
# every span. Spans without a trace can raise a threshold, leaving fewer than
# per_operation traces above it, which the caller notices as it does repeated calls.
THRESHOLDS_SQL = """SELECT
    SpanName,
    toUInt64(-arrayMax(groupArraySorted({{candidates:UInt32}})(-toInt64(Duration)))),
    count()
FROM `{db}`.otel_traces
WHERE {where}
GROUP BY SpanName"""

# One LIMIT BY per SELECT: the inner keeps each trace's slowest call, the outer the top N.
SLOWEST_SQL = """SELECT * FROM (
    SELECT
        SpanName,
        TraceId,
        SpanId,
        toUnixTimestamp64Nano(Timestamp) AS timestamp_ns,
        Duration,
        StatusCode
    FROM `{db}`.otel_traces
    WHERE {where}
    ORDER BY SpanName, Duration DESC, TraceId
    LIMIT 1 BY SpanName, TraceId
)
ORDER BY SpanName, Duration DESC, TraceId
LIMIT {{per_operation:UInt32}} BY SpanName"""

# Operations missing from the arrays (fewer spans than candidates) keep every span.
THRESHOLD_CONDITION = (
    "Duration >= transform(SpanName, {threshold_operations:Array(String)}, "
    "{threshold_durations:Array(UInt64)}, toUInt64(0))"
)


@dataclass(frozen=True, slots=True)
class SlowTrace:
    operation: str
    trace_id: str
    span_id: str
    timestamp_ns: int
    duration_ns: int
    status_code: str


def _validate(service: str, start_ns: int, end_ns: int, per_operation: int) -> None:
    problems = []
    if not service:
        problems.append("service: must not be empty")
    if end_ns <= start_ns:
        problems.append(f"end_ns: {end_ns} must be after start_ns {start_ns}")
    if isinstance(per_operation, bool) or not 1 <= per_operation <= MAX_PER_OPERATION:
        problems.append(f"per_operation: must be 1..{MAX_PER_OPERATION}, got {per_operation!r}")
    if problems:
        raise ValueError("invalid slowest traces query: " + "; ".join(problems))


def _range_filter(
    service: str, start_ns: int, end_ns: int, operation: str | None
) -> tuple[list[str], dict[str, object]]:
    where = [
        "ServiceName = {service:String}",
        "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
        "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})",
    ]
    params: dict[str, object] = {"service": service, "start_ns": start_ns, "end_ns": end_ns}
    if operation is not None:
        where.insert(1, "SpanName = {operation:String}")
        params["operation"] = operation
    return where, params


def render_thresholds_sql(
    database: str,
    service: str,
    start_ns: int,
    end_ns: int,
    operation: str | None = None,
    per_operation: int = 5,
) -> tuple[str, dict[str, object]]:
    """Per operation: the shortest of its `candidates` longest spans, and how many spans it has."""
    _validate(service, start_ns, end_ns, per_operation)
    where, params = _range_filter(service, start_ns, end_ns, operation)
    params["candidates"] = CANDIDATES_PER_TRACE * per_operation
    return THRESHOLDS_SQL.format(db=database, where="\n  AND ".join(where)), params


def render_slowest_sql(
    database: str,
    service: str,
    start_ns: int,
    end_ns: int,
    operation: str | None = None,
    per_operation: int = 5,
    thresholds: Mapping[str, int] | None = None,
) -> tuple[str, dict[str, object]]:
    """The ranking; with `thresholds`, only of spans at least their operation's threshold."""
    _validate(service, start_ns, end_ns, per_operation)
    where, params = _range_filter(service, start_ns, end_ns, operation)
    where.append("TraceId != ''")
    params["per_operation"] = per_operation
    if thresholds:
        where.append(THRESHOLD_CONDITION)
        params["threshold_operations"] = list(thresholds)
        params["threshold_durations"] = list(thresholds.values())
    return SLOWEST_SQL.format(db=database, where="\n      AND ".join(where)), params


def fetch_slowest_traces(
    client: Client,
    database: str,
    service: str,
    start_ns: int,
    end_ns: int,
    operation: str | None = None,
    per_operation: int = 5,
) -> list[SlowTrace]:
    """By operation name, then slowest first."""
    sql, params = render_thresholds_sql(
        database, service, start_ns, end_ns, operation, per_operation
    )
    candidates = CANDIDATES_PER_TRACE * per_operation
    # Operations with fewer spans than candidates have no threshold: all their spans rank.
    thresholds = {
        str(name): int(shortest)
        for name, shortest, count in client.query(sql, parameters=params).result_rows
        if count >= candidates
    }
    query = (database, service, start_ns, end_ns, operation, per_operation)
    rows = _rank(client, *render_slowest_sql(*query, thresholds))
    ranked = Counter(row.operation for row in rows)
    if thresholds and any(ranked[name] < per_operation for name in thresholds):
        rows = _rank(client, *render_slowest_sql(*query))
    return rows


def _rank(client: Client, sql: str, params: dict[str, object]) -> list[SlowTrace]:
    return [
        SlowTrace(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5])
        for row in client.query(sql, parameters=params).result_rows
    ]
