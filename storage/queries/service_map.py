"""The service map of a time window: who calls whom, how often, how well, how fast.

Edges come from `service_edges_1m` (latency as the caller saw it); each node's
own RED from `red_1m` (its server spans). Quantiles come from merged histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from storage.latency_histogram import quantile_ns
from storage.queries.service_edges import fetch_edges

NODES_SQL = """SELECT ServiceName, sum(Requests), sum(Errors), sumMap(DurationBuckets)
FROM `{db}`.red_1m
WHERE Minute >= toDateTime({{start_s:UInt32}}) AND Minute < toDateTime({{end_s:UInt32}})
GROUP BY ServiceName
ORDER BY ServiceName"""


@dataclass(frozen=True, slots=True)
class ServiceMapNode:
    """A service, a database or an external host; RED only for services with server spans."""

    name: str
    requests: int
    errors: int
    p50_ns: float | None
    p99_ns: float | None


@dataclass(frozen=True, slots=True)
class ServiceMapEdge:
    client: str
    server: str
    connection_type: str  # "", "database", "external"
    requests: int
    errors: int
    requests_per_s: float
    p50_ns: float | None
    p99_ns: float | None


@dataclass(frozen=True, slots=True)
class ServiceMap:
    start_s: int
    end_s: int
    nodes: tuple[ServiceMapNode, ...]
    edges: tuple[ServiceMapEdge, ...]


def render_nodes_sql(database: str, start_s: int, end_s: int) -> tuple[str, dict[str, object]]:
    if end_s <= start_s:
        raise ValueError(f"end_s: {end_s} must be after start_s {start_s}")
    return NODES_SQL.format(db=database), {"start_s": start_s, "end_s": end_s}


def fetch_service_map(client: Client, database: str, start_s: int, end_s: int) -> ServiceMap:
    """Nodes and edges in [start_s, end_s); a node for every service seen on either side."""
    sql, params = render_nodes_sql(database, start_s, end_s)
    nodes: dict[str, ServiceMapNode] = {}
    for name, requests, errors, raw in client.query(sql, parameters=params).result_rows:
        buckets = {int(k): int(v) for k, v in raw.items()}
        nodes[name] = ServiceMapNode(
            name, int(requests), int(errors), quantile_ns(buckets, 0.5), quantile_ns(buckets, 0.99)
        )
    edges = []
    for e in fetch_edges(client, database, start_s, end_s):
        for name in (e.client, e.server):
            nodes.setdefault(name, ServiceMapNode(name, 0, 0, None, None))
        edges.append(
            ServiceMapEdge(
                client=e.client,
                server=e.server,
                connection_type=e.connection_type,
                requests=e.requests,
                errors=e.errors,
                requests_per_s=e.requests / (end_s - start_s),
                p50_ns=quantile_ns(e.buckets, 0.5),
                p99_ns=quantile_ns(e.buckets, 0.99),
            )
        )
    return ServiceMap(start_s, end_s, tuple(nodes[n] for n in sorted(nodes)), tuple(edges))
