"""RED time series from `red_1m`: requests, errors and p50/p90/p99 per time bucket.

One row per (bucket, operation, version) as grouped; the latency quantiles of
each row come from its merged histogram (storage/latency_histogram.py), so a
5-minute bucket's p99 is the p99 of its requests, not an average of minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.latency_histogram import quantile_ns

MAX_POINTS = 10_000
GROUP_COLUMNS = {"operation": "Operation", "version": "ServiceVersion"}

RED_SERIES_SQL = """SELECT
    toUnixTimestamp(toStartOfInterval(Minute, toIntervalSecond({{step_s:UInt32}}))) AS bucket,
    {group_select}sum(Requests), sum(Errors), sum(DurationSumNs), sumMap(DurationBuckets)
FROM `{db}`.red_1m
WHERE {where}
GROUP BY bucket{group_by}
ORDER BY bucket{group_by}"""

_FILTERS = (
    ("operation", "Operation = {operation:String}"),
    ("version", "ServiceVersion = {version:String}"),
    ("caller", "Caller = {caller:String}"),
)


@dataclass(frozen=True, slots=True)
class RedSeriesQuery:
    """A service's RED in [start_s, end_s) by `step_s` buckets (a multiple of 60 s).

    `group_by` splits every bucket by "operation" and/or "version"; the filters
    narrow to one operation, version or caller. Times are seconds since the epoch.
    """

    service: str
    start_s: int
    end_s: int
    step_s: int = 60
    operation: str | None = None
    version: str | None = None
    caller: str | None = None
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RedPoint:
    bucket_s: int
    operation: str | None  # None unless grouped by operation
    version: str | None  # None unless grouped by version
    requests: int
    errors: int
    duration_sum_ns: int
    p50_ns: float | None
    p90_ns: float | None
    p99_ns: float | None


def validate(q: RedSeriesQuery) -> None:
    problems = []
    if not q.service:
        problems.append("service: must not be empty")
    if isinstance(q.step_s, bool) or q.step_s < 60 or q.step_s % 60:
        problems.append(f"step_s: must be a positive multiple of 60, got {q.step_s!r}")
    elif q.end_s <= q.start_s:
        problems.append(f"end_s: {q.end_s} must be after start_s {q.start_s}")
    elif (q.end_s - q.start_s) // q.step_s > MAX_POINTS:
        problems.append(f"step_s: {q.step_s} gives more than {MAX_POINTS} buckets")
    for name in q.group_by:
        if name not in GROUP_COLUMNS:
            problems.append(f"group_by: {name!r} is not one of {', '.join(GROUP_COLUMNS)}")
    if problems:
        raise ValueError("invalid RedSeriesQuery: " + "; ".join(problems))


def render_red_series_sql(database: str, q: RedSeriesQuery) -> tuple[str, dict[str, object]]:
    validate(q)
    where = [
        "ServiceName = {service:String}",
        "Minute >= toDateTime({start_s:UInt32})",
        "Minute < toDateTime({end_s:UInt32})",
    ]
    params: dict[str, object] = {
        "service": q.service, "start_s": q.start_s, "end_s": q.end_s, "step_s": q.step_s,
    }  # fmt: skip
    for name, condition in _FILTERS:
        value = getattr(q, name)
        if value is not None:
            where.append(condition)
            params[name] = value
    columns = [GROUP_COLUMNS[name] for name in GROUP_COLUMNS if name in q.group_by]
    sql = RED_SERIES_SQL.format(
        db=database,
        where="\n  AND ".join(where),
        group_select="".join(f"{c}, " for c in columns),
        group_by="".join(f", {c}" for c in columns),
    )
    return sql, params


def fetch_red_series(client: Client, database: str, q: RedSeriesQuery) -> list[RedPoint]:
    sql, params = render_red_series_sql(database, q)
    points = []
    for row in client.query(sql, parameters=params).result_rows:
        values = list(row)
        bucket = int(values.pop(0))
        operation = values.pop(0) if "operation" in q.group_by else None
        version = values.pop(0) if "version" in q.group_by else None
        requests, errors, duration_sum, raw = values
        buckets = {int(k): int(v) for k, v in raw.items()}
        points.append(
            RedPoint(
                bucket_s=bucket,
                operation=operation,
                version=version,
                requests=int(requests),
                errors=int(errors),
                duration_sum_ns=int(duration_sum),
                p50_ns=quantile_ns(buckets, 0.5),
                p90_ns=quantile_ns(buckets, 0.9),
                p99_ns=quantile_ns(buckets, 0.99),
            )
        )
    return points
