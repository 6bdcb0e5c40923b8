"""RED of a service from `red_1m`: merged over minutes, versions and callers as asked.

The SQL is a template checked by a unit test; values are query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.span_metrics_model import RedSummary

RED_SQL = (
    "SELECT sum(Requests), sum(Errors), sum(DurationSumNs), sumMap(DurationBuckets) "
    "FROM `{db}`.red_1m WHERE {where}"
)


@dataclass(frozen=True, slots=True)
class RedQuery:
    """Every field left None is not filtered on. Times are seconds since the epoch."""

    service: str
    operation: str | None = None
    version: str | None = None
    caller: str | None = None
    status_class: str | None = None
    start_s: int | None = None
    end_s: int | None = None  # exclusive


_FILTERS = (
    ("operation", "Operation = {operation:String}"),
    ("version", "ServiceVersion = {version:String}"),
    ("caller", "Caller = {caller:String}"),
    ("status_class", "StatusClass = {status_class:String}"),
    ("start_s", "Minute >= toDateTime({start_s:UInt32})"),
    ("end_s", "Minute < toDateTime({end_s:UInt32})"),
)


def render_red_sql(database: str, q: RedQuery) -> tuple[str, dict[str, object]]:
    where = ["ServiceName = {service:String}"]
    params: dict[str, object] = {"service": q.service}
    for name, condition in _FILTERS:
        value = getattr(q, name)
        if value is not None:
            where.append(condition)
            params[name] = value
    return RED_SQL.format(db=database, where=" AND ".join(where)), params


def fetch_red(client: Client, database: str, q: RedQuery) -> RedSummary:
    sql, params = render_red_sql(database, q)
    requests, errors, duration_sum, buckets = client.query(sql, parameters=params).result_rows[0]
    return RedSummary(
        requests=int(requests or 0),
        errors=int(errors or 0),
        duration_sum_ns=int(duration_sum or 0),
        buckets={int(k): int(v) for k, v in (buckets or {}).items()},
    )
