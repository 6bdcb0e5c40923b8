"""Aligning two traces by (service, operation) path, without a database."""

from __future__ import annotations

from storage.queries.trace_comparison import compare_traces, span_paths
from tests.spans import MS, make_span


def test_paths_are_depth_first_and_orphans_are_roots() -> None:
    root = make_span(service_name="web", span_name="GET /", timestamp_ns=0)
    late = make_span(service_name="db", span_name="q", parent_span_id=root.span_id, timestamp_ns=9)
    early = make_span(
        service_name="api", span_name="c", parent_span_id=root.span_id, timestamp_ns=1
    )
    deep = make_span(service_name="db", span_name="q", parent_span_id=early.span_id, timestamp_ns=2)
    orphan = make_span(service_name="db", span_name="q", parent_span_id="ff" * 8, timestamp_ns=5)
    got = [(path, n) for path, n, _ in span_paths([late, orphan, deep, root, early])]
    assert got == [
        ((("web", "GET /"),), 0),
        ((("web", "GET /"), ("api", "c")), 0),
        ((("web", "GET /"), ("api", "c"), ("db", "q")), 0),
        ((("web", "GET /"), ("db", "q")), 0),
        ((("db", "q"),), 0),
    ]


def test_repeats_pair_by_occurrence_and_extra_steps_stand_alone() -> None:
    def trace(*children_ms: int) -> list:
        root = make_span(service_name="web", span_name="GET /", duration_ns=100 * MS)
        kids = [
            make_span(service_name="db", span_name="q", parent_span_id=root.span_id,
                      timestamp_ns=root.timestamp_ns + i, duration_ns=ms * MS)
            for i, ms in enumerate(children_ms)
        ]  # fmt: skip
        return [root, *kids]

    cmp = compare_traces("a", trace(5), "b", trace(7, 9))
    assert [(r.occurrence, r.delta_ns) for r in cmp.rows] == [(0, 0), (0, 2 * MS), (1, None)]
    assert [r.depth for r in cmp.rows] == [0, 1, 1]
    assert len(cmp.only_in_b) == 1 and cmp.only_in_a == ()
    reverse = compare_traces("b", trace(7, 9), "a", trace(5))
    assert len(reverse.only_in_a) == 1


def test_a_parent_cycle_neither_loops_nor_loses_spans() -> None:
    a = make_span(span_id="a" * 16, parent_span_id="b" * 16, span_name="a", timestamp_ns=1)
    b = make_span(span_id="b" * 16, parent_span_id="a" * 16, span_name="b", timestamp_ns=2)
    got = [path for path, _, _ in span_paths([b, a])]
    assert got == [(("frontend", "a"),), (("frontend", "a"), ("frontend", "b"))]
