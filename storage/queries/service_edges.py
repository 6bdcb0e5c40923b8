"""Service graph edges from `service_edges_1m`, merged over a time range."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from storage.span_metrics_model import EdgeSummary

EDGES_SQL = (
    "SELECT Client, Server, ConnectionType, sum(Requests), sum(Errors), sum(DurationSumNs), "
    "sumMap(DurationBuckets) FROM `{db}`.service_edges_1m "
    "WHERE Minute >= toDateTime({{start_s:UInt32}}) AND Minute < toDateTime({{end_s:UInt32}})"
    "{services} GROUP BY Client, Server, ConnectionType ORDER BY Client, Server, ConnectionType"
)


def render_edges_sql(
    database: str, start_s: int, end_s: int, services: tuple[str, ...] | None
) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {"start_s": start_s, "end_s": end_s}
    where = ""
    if services is not None:
        where = " AND (Client IN {services:Array(String)} OR Server IN {services:Array(String)})"
        params["services"] = list(services)
    return EDGES_SQL.format(db=database, services=where), params


def fetch_edges(
    client: Client,
    database: str,
    start_s: int,
    end_s: int,
    services: tuple[str, ...] | None = None,
) -> list[EdgeSummary]:
    """Edges in [start_s, end_s); with `services`, only those touching one of them."""
    sql, params = render_edges_sql(database, start_s, end_s, services)
    return [
        EdgeSummary(
            client=row[0],
            server=row[1],
            connection_type=row[2],
            requests=int(row[3]),
            errors=int(row[4]),
            duration_sum_ns=int(row[5]),
            buckets={int(k): int(v) for k, v in row[6].items()},
        )
        for row in client.query(sql, parameters=params).result_rows
    ]
