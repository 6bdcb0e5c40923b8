"""The slowest traces per operation of a service: where to start looking at a p99.

Ranked by the duration of the operation's own span, one entry per trace (a
trace calling the operation twice counts once, with its slower call), at most
`per_operation` per operation.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

MAX_PER_OPERATION = 100

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


@dataclass(frozen=True, slots=True)
class SlowTrace:
    operation: str
    trace_id: str
    span_id: str
    timestamp_ns: int
    duration_ns: int
    status_code: str


def render_slowest_sql(
    database: str,
    service: str,
    start_ns: int,
    end_ns: int,
    operation: str | None = None,
    per_operation: int = 5,
) -> tuple[str, dict[str, object]]:
    problems = []
    if not service:
        problems.append("service: must not be empty")
    if end_ns <= start_ns:
        problems.append(f"end_ns: {end_ns} must be after start_ns {start_ns}")
    if isinstance(per_operation, bool) or not 1 <= per_operation <= MAX_PER_OPERATION:
        problems.append(f"per_operation: must be 1..{MAX_PER_OPERATION}, got {per_operation!r}")
    if problems:
        raise ValueError("invalid slowest traces query: " + "; ".join(problems))
    where = [
        "ServiceName = {service:String}",
        "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
        "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})",
        "TraceId != ''",
    ]
    params: dict[str, object] = {
        "service": service, "start_ns": start_ns, "end_ns": end_ns, "per_operation": per_operation,
    }  # fmt: skip
    if operation is not None:
        where.insert(1, "SpanName = {operation:String}")
        params["operation"] = operation
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
    sql, params = render_slowest_sql(database, service, start_ns, end_ns, operation, per_operation)
    return [
        SlowTrace(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5])
        for row in client.query(sql, parameters=params).result_rows
    ]
