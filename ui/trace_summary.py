"""A trace's summary computed from its spans, as storage computes it for searches."""

from __future__ import annotations

from collections.abc import Sequence

from storage.model import SpanRecord, SpanStatus, TraceSummary

__all__ = ["summarize_trace"]


def summarize_trace(spans: Sequence[SpanRecord]) -> TraceSummary:
    """The summary of one non-empty trace: its root (or earliest) span and its extent."""
    if not spans:
        raise ValueError("a trace summary needs at least one span")
    span_ids = {span.span_id for span in spans}
    roots = [s for s in spans if not s.parent_span_id or s.parent_span_id not in span_ids]
    root = min(roots or spans, key=lambda s: (s.timestamp_ns, s.span_id))
    start = min(span.timestamp_ns for span in spans)
    end = max(span.end_ns for span in spans)
    return TraceSummary(
        trace_id=root.trace_id,
        start_ns=start,
        duration_ns=end - start,
        root_service=root.service_name,
        root_operation=root.span_name,
        span_count=len(spans),
        error_count=sum(1 for span in spans if span.status_code == SpanStatus.ERROR),
        services=tuple(sorted({span.service_name for span in spans})),
    )
