"""Log records from `otel_logs`: of a service, of a trace, at or above a severity.

Newest first. The trace filter is what links a trace to its logs; TraceId has a
bloom filter, so it reads few granules. Filters are query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.logs_model import LogRecord
from storage.queries.filters import given_filters, limit_problems, time_range_problems

MAX_LOGS = 10_000
MAX_SEVERITY = 24  # SeverityNumber of FATAL4, the highest OpenTelemetry defines

LOGS_SQL = """SELECT toUnixTimestamp64Nano(Timestamp) AS TimestampNs,
    ServiceName, Body, SeverityText, SeverityNumber, TraceId, SpanId, TraceFlags,
    LogAttributes, ResourceAttributes, ScopeName, ScopeVersion
FROM `{db}`.otel_logs{where}
ORDER BY Timestamp DESC
LIMIT {{limit:UInt32}}"""

_FILTERS = (
    ("service", "ServiceName = {service:String}"),
    ("trace_id", "TraceId = {trace_id:String}"),
    ("min_severity", "SeverityNumber >= {min_severity:UInt8}"),
    ("severity_text", "SeverityText = {severity_text:String}"),
    ("start_ns", "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})"),
    ("end_ns", "Timestamp < fromUnixTimestamp64Nano({end_ns:Int64})"),
)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The newest `limit` records matching every filter given (None filters nothing).

    `min_severity` is a SeverityNumber (9 INFO, 13 WARN, 17 ERROR); times are
    nanoseconds since the epoch, `end_ns` exclusive; `trace_id` is 32 hex characters.
    """

    service: str | None = None
    trace_id: str | None = None
    min_severity: int | None = None
    severity_text: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 100


def validate(q: LogQuery) -> None:
    """ValueError naming every bad field of `q`."""
    problems: list[str] = []
    problems.extend(limit_problems(q.limit, MAX_LOGS))
    if q.min_severity is not None and (
        isinstance(q.min_severity, bool)
        or not isinstance(q.min_severity, int)
        or not 0 <= q.min_severity <= MAX_SEVERITY
    ):
        problems.append(f"min_severity: must be 0..{MAX_SEVERITY}, got {q.min_severity!r}")
    if q.trace_id is not None and not _is_trace_id(q.trace_id):
        problems.append(f"trace_id: must be 32 lowercase hex characters, got {q.trace_id!r}")
    problems.extend(time_range_problems(q.start_ns, q.end_ns))
    if problems:
        raise ValueError("invalid log query: " + "; ".join(problems))


def _is_trace_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 32
        and all(c in "0123456789abcdef" for c in value)
    )


def render_logs_sql(database: str, q: LogQuery) -> tuple[str, dict[str, object]]:
    validate(q)
    where, params = given_filters(q, _FILTERS)
    clause = "\nWHERE " + "\n  AND ".join(where) if where else ""
    return LOGS_SQL.format(db=database, where=clause), {"limit": q.limit, **params}


def fetch_logs(client: Client, database: str, q: LogQuery) -> list[LogRecord]:
    sql, params = render_logs_sql(database, q)
    return [
        LogRecord(
            timestamp_ns=int(row[0]), service_name=row[1], body=row[2], severity_text=row[3],
            severity_number=int(row[4]), trace_id=row[5], span_id=row[6],
            trace_flags=int(row[7]), log_attributes=dict(row[8]),
            resource_attributes=dict(row[9]), scope_name=row[10], scope_version=row[11],
        )
        for row in client.query(sql, parameters=params).result_rows
    ]
