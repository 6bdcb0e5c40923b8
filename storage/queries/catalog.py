"""What is there to search for: service and operation names."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

# ServiceName and SpanName lead the sorting key, so these read only those columns.
SERVICES_SQL = "SELECT DISTINCT ServiceName FROM `{db}`.otel_traces ORDER BY ServiceName"

OPERATIONS_SQL = "SELECT DISTINCT SpanName FROM `{db}`.otel_traces{where} ORDER BY SpanName"


def render_operations_sql(database: str, service: str | None) -> tuple[str, dict[str, object]]:
    if service is None:
        return OPERATIONS_SQL.format(db=database, where=""), {}
    where = " WHERE ServiceName = {service:String}"
    return OPERATIONS_SQL.format(db=database, where=where), {"service": service}


def fetch_services(client: Client, database: str) -> list[str]:
    rows = client.query(SERVICES_SQL.format(db=database)).result_rows
    return [row[0] for row in rows]


def fetch_operations(client: Client, database: str, service: str | None = None) -> list[str]:
    sql, params = render_operations_sql(database, service)
    return [row[0] for row in client.query(sql, parameters=params).result_rows]
