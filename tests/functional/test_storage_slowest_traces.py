"""Slowest traces on chdb: the two-step query (thresholds, then the ranking of the
spans reaching them) answers exactly what ranking every span would. Each test writes
spans of its own service, with a random tag, so other tests' data never matches.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

from storage import SlowTrace, SpanRecord, Store
from storage.queries.slowest_traces import (
    CANDIDATES_PER_TRACE,
    render_slowest_sql,
    render_thresholds_sql,
)
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns

S = 1_000 * MS
T0 = BASE_NS + 9_000 * S
END = T0 + 3_600 * S


def _service(name: str) -> str:
    return f"{os.urandom(6).hex()}-{name}"


def _span(service: str, op: str, trace_id: str, at_s: float, ms: int) -> SpanRecord:
    return make_span(trace_id=trace_id, service_name=service, span_name=op,
                     timestamp_ns=T0 + int(at_s * S), duration_ns=ms * MS)  # fmt: skip


def brute_force(
    spans: Sequence[SpanRecord], start_ns: int, end_ns: int, per_operation: int
) -> list[tuple[str, str, int]]:
    """(operation, trace, duration) of each trace's slowest call, per operation the
    slowest first (ties by trace id), at most per_operation each."""
    slowest: dict[tuple[str, str], int] = {}
    for s in spans:
        if start_ns <= s.timestamp_ns < end_ns:
            key = (s.span_name, s.trace_id)
            slowest[key] = max(slowest.get(key, 0), s.duration_ns)
    ranked = sorted(slowest.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    out: list[tuple[str, str, int]] = []
    for (op, trace), duration in ranked:
        if sum(1 for o, _, _ in out if o == op) < per_operation:
            out.append((op, trace, duration))
    return out


def answer(slow: list[SlowTrace], spans: Sequence[SpanRecord]) -> list[tuple[str, str, int]]:
    by_id = {s.span_id: s for s in spans}
    for t in slow:  # the span reported is the trace's call of that duration
        span = by_id[t.span_id]
        assert (span.trace_id, span.span_name, span.duration_ns) == (
            t.trace_id, t.operation, t.duration_ns,
        )  # fmt: skip
    return [(t.operation, t.trace_id, t.duration_ns) for t in slow]


def thresholded_only(store: Store, service: str, per_operation: int) -> list[tuple[str, str]]:
    """The second step alone, without the fallback: (operation, trace) rows."""
    sql, params = render_thresholds_sql(store.database, service, T0, END, None, per_operation)
    rows = store._run(lambda c: c.query(sql, parameters=params).result_rows)
    k = CANDIDATES_PER_TRACE * per_operation
    thresholds = {str(op): int(d) for op, d, n in rows if n >= k}
    assert thresholds, "no operation has enough spans for a threshold"
    sql, params = render_slowest_sql(
        store.database, service, T0, END, None, per_operation, thresholds
    )
    ranked = store._run(lambda c: c.query(sql, parameters=params).result_rows)
    return [(row[0], row[1]) for row in ranked]


def test_equals_brute_force(chdb_store: Store) -> None:
    rng = random.Random(7)
    service = _service("api")
    spans: list[SpanRecord] = []
    # Durations from a small range: many ties, between traces and at thresholds.
    for _ in range(400):
        trace = new_trace_id()
        for _call in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.choice(("GET /a", "GET /b", "POST /c", "rare"))
            if op == "rare" and rng.random() < 0.9:
                continue  # fewer spans than candidates: no threshold
            spans.append(_span(service, op, trace, rng.uniform(0, 3_000), rng.randint(1, 60)))
    chdb_store.write_spans(to_columns(*spans))
    for start, end in ((T0, END), (T0 + 1_000 * S, T0 + 2_000 * S)):
        for per_operation in (1, 5, 20):
            expected = brute_force(spans, start, end, per_operation)
            got = chdb_store.slowest_traces(service, start, end, per_operation=per_operation)
            assert answer(got, spans) == expected, (start, per_operation)
            got = chdb_store.slowest_traces(service, start, end, operation="GET /b",
                                            per_operation=per_operation)  # fmt: skip
            assert answer(got, spans) == [e for e in expected if e[0] == "GET /b"]


def test_one_trace_calling_many_times_falls_back(chdb_store: Store) -> None:
    service = _service("fanout")
    busy = new_trace_id()
    # busy's 30 calls are the 30 longest: the candidates hold one trace.
    spans = [_span(service, "GET /item", busy, 1 + i / 100, 500 + i) for i in range(30)]
    spans += [_span(service, "GET /item", new_trace_id(), 10 + i, 10 + i) for i in range(40)]
    chdb_store.write_spans(to_columns(*spans))
    assert len(thresholded_only(chdb_store, service, 3)) == 1  # what the fallback repairs
    got = chdb_store.slowest_traces(service, T0, END, per_operation=3)
    assert answer(got, spans) == brute_force(spans, T0, END, 3)
    assert [t.duration_ns // MS for t in got] == [529, 49, 48]


def test_ties_at_the_threshold(chdb_store: Store) -> None:
    service = _service("ties")
    busy = new_trace_id()
    # Candidates (8 for 2 per operation): busy's 7 calls and one of the 10 tied
    # traces; every tied trace reaches the threshold and they rank by trace id.
    spans = [_span(service, "GET /t", busy, 1 + i, 100) for i in range(7)]
    tied = [new_trace_id() for _ in range(10)]
    spans += [_span(service, "GET /t", trace, 20 + i, 50) for i, trace in enumerate(tied)]
    spans += [_span(service, "GET /t", new_trace_id(), 40 + i, 5) for i in range(10)]
    chdb_store.write_spans(to_columns(*spans))
    assert CANDIDATES_PER_TRACE * 2 == 8
    assert len(thresholded_only(chdb_store, service, 2)) == 2  # no fallback needed
    got = chdb_store.slowest_traces(service, T0, END, per_operation=2)
    assert answer(got, spans) == [("GET /t", busy, 100 * MS), ("GET /t", min(tied), 50 * MS)]
    assert answer(got, spans) == brute_force(spans, T0, END, 2)
