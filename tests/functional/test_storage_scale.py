"""The benchmark's workload at 100k spans (bench/storage.py runs it at 10M): every
question answered on chdb, checked against answers computed from the generated
spans in Python. Correctness only: nothing here is timed."""

from __future__ import annotations

import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest

from storage import (
    AttributeFilter,
    RedSeriesQuery,
    SearchOrder,
    SpanColumns,
    Store,
    TraceSearchQuery,
    VersionSamplesQuery,
)
from storage.queries.trace_by_id import render_trace_sql
from storage.testing import SyntheticMesh
from tests.spans import BASE_NS

WINDOW_S = 7_200
START_NS = BASE_NS + 86_400 * 1_000_000_000
END_NS = START_NS + (WINDOW_S + 60) * 1_000_000_000


@dataclass(frozen=True)
class Loaded:
    names: list[str]
    spans: SpanColumns  # every span written, as one batch


@pytest.fixture(scope="module")
def loaded(chdb_store: Store) -> Loaded:
    mesh = SyntheticMesh(traces=10_000, start_ns=START_NS, window_s=WINDOW_S,
                         prefix=f"{os.urandom(4).hex()}-", seed=7)  # fmt: skip
    everything = SpanColumns()
    for batch in mesh.batches(traces_per_batch=2_500):
        chdb_store.write_spans(batch.spans)
        chdb_store.write_red(batch.red)
        chdb_store.write_edges(batch.edges)
        everything.extend(batch.spans)
    assert len(everything) > 90_000
    return Loaded(mesh.service_names(), everything)


def rows(s: SpanColumns) -> range:
    return range(len(s))


def test_every_span_is_stored(chdb_store: Store, loaded: Loaded) -> None:
    per_service = Counter(loaded.spans.ServiceName)
    assert len(per_service) == len(loaded.names)  # every service is called
    assert {n: chdb_store.count_spans(n) for n in loaded.names} == dict(per_service)


def test_trace_by_id(chdb_store: Store, loaded: Loaded) -> None:
    s = loaded.spans
    by_trace: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for i in rows(s):
        by_trace[s.TraceId[i]].add((s.SpanId[i], s.Duration[i]))
    for trace_id in random.Random(1).sample(sorted(by_trace), 30):
        got = {(span.span_id, span.duration_ns) for span in chdb_store.get_trace(trace_id)}
        assert got == by_trace[trace_id]


def test_trace_by_id_reads_the_granules_of_the_trace_only(
    chdb_store: Store, loaded: Loaded
) -> None:
    """Sorted by (hour, TraceId), a trace's ~10 spans are side by side: the primary key
    and the TraceId bloom filter leave one granule, two where the spans cross one.
    Sorted as the exporter sorts, they would lie in a granule per (service, operation)."""
    for trace_id in random.Random(2).sample(sorted(set(loaded.spans.TraceId)), 10):
        sql, params = render_trace_sql(chdb_store.database, trace_id)
        plan = chdb_store._run(
            lambda c, sql=sql, params=params: c.query("EXPLAIN indexes = 1 " + sql,
                                                      parameters=params).result_rows
        )  # fmt: skip
        read = re.search(r"Parts: \d+ \| Granules: (\d+)", "\n".join(row[0] for row in plan))
        assert read is not None, plan
        assert 1 <= int(read[1]) <= 2, plan


def test_searches(chdb_store: Store, loaded: Loaded) -> None:
    s, front, cart = loaded.spans, loaded.names[0], loaded.names[7]
    errors = {
        s.TraceId[i] for i in rows(s) if s.ServiceName[i] == front and s.StatusCode[i] == "Error"
    }
    q = TraceSearchQuery(service=front, status="Error", limit=1000)  # type: ignore[arg-type]
    assert 50 < len(errors) < 1000
    assert {t.trace_id for t in chdb_store.search_traces(q)} == errors

    pattern = r"^/cart/9\d{4}$"
    paths = {
        s.TraceId[i] for i in rows(s)
        if s.ServiceName[i] == cart and re.search(pattern, s.SpanAttributes[i].get("url.path", ""))
    }  # fmt: skip
    q = TraceSearchQuery(service=cart, attribute_patterns=(("url.path", pattern),), limit=1000)
    assert paths and {t.trace_id for t in chdb_store.search_traces(q)} == paths

    longest: dict[str, int] = {}
    for i in rows(s):
        if s.ServiceName[i] == front:
            longest[s.TraceId[i]] = max(longest.get(s.TraceId[i], 0), s.Duration[i])
    top = sorted(longest, key=lambda t: -longest[t])[:10]
    q = TraceSearchQuery(service=front, order_by=SearchOrder.DURATION, limit=10)
    assert {t.trace_id for t in chdb_store.search_traces(q)} == set(top)


def test_red_and_service_map(chdb_store: Store, loaded: Loaded) -> None:
    s, front = loaded.spans, loaded.names[0]
    start_s, end_s = START_NS // 10**9 // 60 * 60, END_NS // 10**9
    served = [i for i in rows(s) if s.ServiceName[i] == front and s.SpanKind[i] == "Server"]
    points = chdb_store.red_series(RedSeriesQuery(front, start_s, end_s + 60, step_s=600))
    assert sum(p.requests for p in points) == len(served)
    assert sum(p.errors for p in points) == sum(s.StatusCode[i] == "Error" for i in served)
    for p in points:
        assert p.p50_ns and p.p90_ns and p.p99_ns and p.p50_ns <= p.p90_ns <= p.p99_ns

    calls = Counter(
        (s.ServiceName[i], s.SpanAttributes[i]["server.address"])
        for i in rows(s) if s.SpanKind[i] == "Client"
    )  # fmt: skip
    smap = chdb_store.service_map(start_s, end_s + 60)
    ours = set(loaded.names)
    got = {(e.client, e.server): e.requests for e in smap.edges if e.client in ours}
    assert got == dict(calls)


def test_slowest_samples_attributes_and_comparison(chdb_store: Store, loaded: Loaded) -> None:
    s, checkout, users = loaded.spans, loaded.names[8], loaded.names[3]
    best: dict[tuple[str, str], int] = {}
    for i in rows(s):
        if s.ServiceName[i] == checkout:
            key = (s.SpanName[i], s.TraceId[i])
            best[key] = max(best.get(key, 0), s.Duration[i])
    expected: dict[str, list[int]] = defaultdict(list)
    for (op, _), d in sorted(best.items(), key=lambda kv: (kv[0][0], -kv[1])):
        if len(expected[op]) < 3:
            expected[op].append(d)
    slow = chdb_store.slowest_traces(checkout, START_NS, END_NS, per_operation=3)
    got: dict[str, list[int]] = defaultdict(list)
    for t in slow:
        got[t.operation].append(t.duration_ns)
    assert got == expected

    versions = Counter(
        s.ResourceAttributes[i]["service.version"]
        for i in rows(s) if s.ServiceName[i] == users and s.SpanKind[i] == "Server"
    )  # fmt: skip
    q = VersionSamplesQuery(users, "v1", "v2", START_NS, END_NS, limit=100_000)
    samples = chdb_store.version_samples(q)
    assert (len(samples.baseline), len(samples.canary)) == (versions["v1"], versions["v2"])

    routes = Counter(
        s.SpanAttributes[i]["http.route"] for i in rows(s)
        if s.ServiceName[i] == users and "http.route" in s.SpanAttributes[i]
    )  # fmt: skip
    suggested = chdb_store.attribute_values("http.route", AttributeFilter(service=users))
    assert {v.text: v.spans for v in suggested} == dict(routes)

    a, b = s.TraceId[0], s.TraceId[-1]
    cmp = chdb_store.compare_traces(a, b)
    assert sum(r.a is not None for r in cmp.rows) == s.TraceId.count(a)
    assert sum(r.b is not None for r in cmp.rows) == s.TraceId.count(b)
    assert cmp.rows[0].path == ((loaded.names[0], cmp.rows[0].path[0][1]),)
