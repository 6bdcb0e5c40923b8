"""Two traces side by side: their span trees aligned by (service, operation) path.

A span's path is the (service, operation) of every span from its root down to
it. Spans of the two traces with the same path are the same step of the same
request flow; a path repeated within a trace (a retry, a loop) is paired by
occurrence, earliest with earliest. A step only one trace took has no partner.
Spans whose parent is missing start a path of their own, as roots do; so do
spans caught in a parent cycle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from storage.model import SpanRecord

Step = tuple[str, str]  # (service, operation)


@dataclass(frozen=True, slots=True)
class AlignedSpan:
    path: tuple[Step, ...]
    occurrence: int  # 0 for the first span with this path in its trace, 1 for the next...
    a: SpanRecord | None
    b: SpanRecord | None

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def delta_ns(self) -> int | None:
        """b's duration minus a's; None when only one trace has the step."""
        if self.a is None or self.b is None:
            return None
        return self.b.duration_ns - self.a.duration_ns


@dataclass(frozen=True, slots=True)
class TraceComparison:
    trace_a: str
    trace_b: str
    rows: tuple[AlignedSpan, ...]  # depth first, in trace a's order, then b's extra steps

    @property
    def only_in_a(self) -> tuple[AlignedSpan, ...]:
        return tuple(r for r in self.rows if r.b is None)

    @property
    def only_in_b(self) -> tuple[AlignedSpan, ...]:
        return tuple(r for r in self.rows if r.a is None)


def span_paths(spans: list[SpanRecord]) -> list[tuple[tuple[Step, ...], int, SpanRecord]]:
    """(path, occurrence, span) for every span, depth first, siblings by start time."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    roots = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id in by_id:
            children[span.parent_span_id].append(span)
        else:
            roots.append(span)
    seen: dict[tuple[Step, ...], int] = defaultdict(int)
    out: list[tuple[tuple[Step, ...], int, SpanRecord]] = []
    # An explicit stack: a deep trace must not hit Python's recursion limit.
    stack: list[tuple[tuple[Step, ...], SpanRecord]] = [
        ((), s) for s in sorted(roots, key=_order, reverse=True)
    ]
    visited: set[str] = set()
    # Spans in a parent cycle (bad data) are reached from no root: each starts a tree.
    unreached = sorted(spans, key=_order, reverse=True)
    while stack or unreached:
        if not stack:
            stack.append(((), unreached.pop()))
        prefix, span = stack.pop()
        if span.span_id in visited:
            continue
        visited.add(span.span_id)
        path = (*prefix, (span.service_name, span.span_name))
        out.append((path, seen[path], span))
        seen[path] += 1
        for child in sorted(children[span.span_id], key=_order, reverse=True):
            stack.append((path, child))
    return out


def _order(span: SpanRecord) -> tuple[int, str]:
    return (span.timestamp_ns, span.span_id)


def compare_traces(
    trace_a: str, spans_a: list[SpanRecord], trace_b: str, spans_b: list[SpanRecord]
) -> TraceComparison:
    b_steps = {(path, n): span for path, n, span in span_paths(spans_b)}
    rows = []
    for path, n, span in span_paths(spans_a):
        rows.append(AlignedSpan(path, n, span, b_steps.pop((path, n), None)))
    for path, n, span in span_paths(spans_b):
        if (path, n) in b_steps:
            rows.append(AlignedSpan(path, n, None, span))
    return TraceComparison(trace_a, trace_b, tuple(rows))
