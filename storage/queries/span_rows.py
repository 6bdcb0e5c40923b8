"""The `otel_traces` columns a reader selects, and rows back into SpanRecords."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.model import SpanEvent, SpanLink, SpanRecord

# Times come back as integer nanoseconds: Python datetimes keep only microseconds.
SPAN_SELECT = """toUnixTimestamp64Nano(Timestamp) AS TimestampNs,
    TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration,
    StatusCode, StatusMessage,
    arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS EventsTimestampNs,
    Events.Name, Events.Attributes,
    Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes"""


def row_to_span(row: Sequence[Any]) -> SpanRecord:
    (
        timestamp_ns, trace_id, span_id, parent_span_id, trace_state, span_name,
        span_kind, service_name, resource_attributes, scope_name, scope_version,
        span_attributes, duration_ns, status_code, status_message,
        events_ts, events_name, events_attrs,
        links_trace_id, links_span_id, links_trace_state, links_attrs,
    ) = row  # fmt: skip
    return SpanRecord(
        timestamp_ns=int(timestamp_ns),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        span_name=span_name,
        span_kind=span_kind,
        service_name=service_name,
        duration_ns=int(duration_ns),
        status_code=status_code,
        status_message=status_message,
        trace_state=trace_state,
        resource_attributes=dict(resource_attributes),
        scope_name=scope_name,
        scope_version=scope_version,
        span_attributes=dict(span_attributes),
        events=tuple(
            SpanEvent(int(ts), name, dict(attrs))
            for ts, name, attrs in zip(events_ts, events_name, events_attrs, strict=True)
        ),
        links=tuple(
            SpanLink(tid, sid, state, dict(attrs))
            for tid, sid, state, attrs in zip(
                links_trace_id, links_span_id, links_trace_state, links_attrs, strict=True
            )
        ),
    )
