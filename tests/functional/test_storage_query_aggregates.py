"""RED time series and the service map on a real chdb store, from red_1m and
service_edges_1m rows with known histograms. Service names carry a random tag."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from storage import EdgeColumns, RedColumns, RedSeriesQuery, Store
from storage.latency_histogram import bucket_index, bucket_upper_ns

T0 = 1_735_700_000 // 3_600 * 3_600  # a whole hour, seconds
MS = 1_000_000


def upper(ms: int) -> float:
    """What a quantile reads for a request of `ms`: its bucket's upper bound."""
    return bucket_upper_ns(bucket_index(ms * MS))


@dataclass(frozen=True)
class Mesh:
    api: str
    db: str
    web: str


@pytest.fixture(scope="module")
def mesh(chdb_store: Store) -> Mesh:
    tag = os.urandom(6).hex()
    m = Mesh(api=f"{tag}-api", db=f"{tag}-db", web=f"{tag}-web")
    red = RedColumns()
    # (minute offset, operation, version, requests of 10 ms, of 100 ms, errors)
    for minute, op, version, fast, slow, errors in (
        (0, "GET /a", "v1", 90, 10, 1),
        (1, "GET /a", "v1", 100, 0, 0),
        (1, "GET /a", "v2", 0, 50, 5),
        (2, "GET /b", "v1", 10, 0, 0),
        (7, "GET /a", "v1", 1, 0, 0),
    ):
        red.Minute.append(T0 + minute * 60)
        red.ServiceName.append(m.api)
        red.Operation.append(op)
        red.ServiceVersion.append(version)
        red.Caller.append(m.web)
        red.StatusClass.append("2xx")
        red.Requests.append(fast + slow)
        red.Errors.append(errors)
        red.DurationSumNs.append((fast * 10 + slow * 100) * MS)
        buckets: dict[int, int] = {}
        for ms, n in ((10, fast), (100, slow)):
            if n:
                buckets[bucket_index(ms * MS)] = buckets.get(bucket_index(ms * MS), 0) + n
        red.DurationBuckets.append(buckets)
    chdb_store.write_red(red)
    edges = EdgeColumns()
    for minute, client, server, kind, n, errors, ms in (
        (0, m.web, m.api, "", 100, 1, 10),
        (1, m.web, m.api, "", 150, 5, 100),
        (1, m.api, m.db, "database", 40, 0, 2),
        (90, m.api, m.db, "database", 5, 0, 2),  # outside the first hour
    ):
        edges.Minute.append(T0 + minute * 60)
        edges.Client.append(client)
        edges.Server.append(server)
        edges.ConnectionType.append(kind)
        edges.Requests.append(n)
        edges.Errors.append(errors)
        edges.DurationSumNs.append(n * ms * MS)
        edges.DurationBuckets.append({bucket_index(ms * MS): n})
    chdb_store.write_edges(edges)
    return m


def test_one_minute_buckets(chdb_store: Store, mesh: Mesh) -> None:
    points = chdb_store.red_series(RedSeriesQuery(mesh.api, T0, T0 + 600))
    got = [(p.bucket_s - T0, p.requests, p.errors) for p in points]
    assert got == [(0, 100, 1), (60, 150, 5), (120, 10, 0), (420, 1, 0)]
    first = points[0]
    assert (first.p50_ns, first.p90_ns, first.p99_ns) == (upper(10), upper(10), upper(100))
    assert first.operation is None and first.version is None
    assert points[1].p50_ns == upper(10) and points[1].p90_ns == upper(100)  # 100 fast, 50 slow


def test_wider_buckets_merge_histograms(chdb_store: Store, mesh: Mesh) -> None:
    [five, ten] = chdb_store.red_series(RedSeriesQuery(mesh.api, T0, T0 + 600, step_s=300))
    assert (five.bucket_s, five.requests, five.errors) == (T0, 260, 6)
    assert five.duration_sum_ns == (200 * 10 + 60 * 100) * MS
    # 200 fast and 60 slow: p50 is rank 130 (fast), p90 rank 234 (slow).
    assert (five.p50_ns, five.p90_ns) == (upper(10), upper(100))
    assert (ten.bucket_s, ten.requests) == (T0 + 300, 1)


def test_grouped_by_operation_and_version(chdb_store: Store, mesh: Mesh) -> None:
    q = RedSeriesQuery(mesh.api, T0, T0 + 300, step_s=300, group_by=("operation", "version"))
    got = [(p.operation, p.version, p.requests, p.errors) for p in chdb_store.red_series(q)]
    assert got == [("GET /a", "v1", 200, 1), ("GET /a", "v2", 50, 5), ("GET /b", "v1", 10, 0)]
    canary = RedSeriesQuery(mesh.api, T0, T0 + 600, version="v2", operation="GET /a")
    [only] = chdb_store.red_series(canary)
    assert (only.bucket_s, only.requests, only.p50_ns) == (T0 + 60, 50, upper(100))
    assert chdb_store.red_series(RedSeriesQuery(mesh.api, T0, T0 + 600, caller="nobody")) == []


def test_bad_series_query_is_refused_by_field(chdb_store: Store) -> None:
    with pytest.raises(ValueError, match=r"step_s.*group_by"):
        chdb_store.red_series(RedSeriesQuery("x", 0, 600, step_s=90, group_by=("caller",)))


def test_service_map_of_a_window(chdb_store: Store, mesh: Mesh) -> None:
    smap = chdb_store.service_map(T0, T0 + 3_600)
    edges = [
        (e.client, e.server, e.connection_type, e.requests, e.errors)
        for e in smap.edges
        if mesh.api in (e.client, e.server)
    ]
    assert edges == [
        (mesh.api, mesh.db, "database", 40, 0),
        (mesh.web, mesh.api, "", 250, 6),
    ]
    web_api = next(e for e in smap.edges if (e.client, e.server) == (mesh.web, mesh.api))
    assert (web_api.p50_ns, web_api.p99_ns) == (upper(100), upper(100))
    assert web_api.requests_per_s == pytest.approx(250 / 3_600)
    nodes = {n.name: n for n in smap.nodes if n.name.startswith(mesh.api[:12])}
    assert set(nodes) == {mesh.api, mesh.db, mesh.web}
    assert (nodes[mesh.api].requests, nodes[mesh.api].errors) == (261, 6)
    assert nodes[mesh.db].requests == 0 and nodes[mesh.db].p99_ns is None  # no server spans
    later = chdb_store.service_map(T0 + 3_600, T0 + 7_200)
    assert [(e.server, e.requests) for e in later.edges if e.client == mesh.api] == [(mesh.db, 5)]
