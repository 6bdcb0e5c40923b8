"""Decode an OTLP `ExportTraceServiceRequest` (protobuf) into `SpanColumns`.

This is the collector's hot path. Each span is read field by field straight into
the column lists: no intermediate object per span. Resource attributes are
flattened once per resource, and every span of that resource shares the same
dict, so the columns must be treated as read-only (storage only reads them).

Validation is a cheap check per span; only when it fails is the span looked at
again to say exactly what is wrong and where. An invalid span is left out and
counted (partial success, collector/translate/validation.py); the others are kept.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.translate.attributes import flatten_attributes
from collector.translate.errors import parse_protobuf, span_path
from collector.translate.validation import Decoded, Rejections, id_problem, strict
from storage.model import SPAN_KINDS, STATUS_CODES, SpanColumns

UNKNOWN_SERVICE = "unknown_service"
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_KIND_COUNT = len(SPAN_KINDS)
_STATUS_COUNT = len(STATUS_CODES)


def decode_protobuf(payload: bytes) -> SpanColumns:
    """Parse a serialized `ExportTraceServiceRequest` and decode it, all or nothing:
    the first invalid span raises OtlpDecodeError."""
    return strict(decode_traces_protobuf(payload))


def decode_request(request: ExportTraceServiceRequest) -> SpanColumns:
    """Every span of `request` as one row of the returned columns, all or nothing."""
    return strict(decode_traces_request(request))


def decode_traces_protobuf(payload: bytes) -> Decoded[SpanColumns]:
    """Parse a serialized `ExportTraceServiceRequest`; its valid spans and the rejected."""
    return decode_traces_request(parse_protobuf(ExportTraceServiceRequest(), payload))


def decode_traces_request(request: ExportTraceServiceRequest) -> Decoded[SpanColumns]:
    """Turn every valid span of `request` into one row of the returned columns."""
    columns = SpanColumns()
    rejections = Rejections()
    timestamp = columns.Timestamp.append
    trace_ids = columns.TraceId.append
    span_ids = columns.SpanId.append
    parent_ids = columns.ParentSpanId.append
    trace_states = columns.TraceState.append
    names = columns.SpanName.append
    kinds = columns.SpanKind.append
    services = columns.ServiceName.append
    resource_attributes = columns.ResourceAttributes.append
    scope_names = columns.ScopeName.append
    scope_versions = columns.ScopeVersion.append
    span_attributes = columns.SpanAttributes.append
    durations = columns.Duration.append
    status_codes = columns.StatusCode.append
    status_messages = columns.StatusMessage.append
    events_ts = columns.EventsTimestamp.append
    events_name = columns.EventsName.append
    events_attributes = columns.EventsAttributes.append
    links_trace = columns.LinksTraceId.append
    links_span = columns.LinksSpanId.append
    links_state = columns.LinksTraceState.append
    links_attributes = columns.LinksAttributes.append

    for r, resource_spans in enumerate(request.resource_spans):
        resource = flatten_attributes(resource_spans.resource.attributes)
        service = resource.get("service.name", UNKNOWN_SERVICE)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_name = scope.name
            scope_version = scope.version
            for i, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent_id = span.parent_span_id
                kind = span.kind
                status = span.status
                code = status.code
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or trace_id == _ZERO_TRACE_ID
                    or span_id == _ZERO_SPAN_ID
                    or (parent_id and len(parent_id) != 8)
                    or not 0 <= kind < _KIND_COUNT
                    or not 0 <= code < _STATUS_COUNT
                    or end < start
                    or (span.links and _links_problem(span, ""))
                ):
                    rejections.add(_explain(span, span_path(r, s, i)))
                    continue

                timestamp(start)
                trace_ids(trace_id.hex())
                span_ids(span_id.hex())
                parent_ids(parent_id.hex())
                trace_states(span.trace_state)
                names(span.name)
                kinds(SPAN_KINDS[kind])
                services(service)
                resource_attributes(resource)
                scope_names(scope_name)
                scope_versions(scope_version)
                span_attributes(flatten_attributes(span.attributes))
                durations(end - start)
                status_codes(STATUS_CODES[code])
                status_messages(status.message)

                if span.events:
                    events = span.events
                    events_ts([e.time_unix_nano for e in events])
                    events_name([e.name for e in events])
                    events_attributes([flatten_attributes(e.attributes) for e in events])
                else:
                    events_ts([])
                    events_name([])
                    events_attributes([])
                if span.links:
                    links = span.links
                    links_trace([link.trace_id.hex() for link in links])
                    links_span([link.span_id.hex() for link in links])
                    links_state([link.trace_state for link in links])
                    links_attributes([flatten_attributes(link.attributes) for link in links])
                else:
                    links_trace([])
                    links_span([])
                    links_state([])
                    links_attributes([])
    return Decoded(columns, rejections)


def _explain(span: Span, where: str) -> str:
    """Say what is wrong with a span that failed the fast check."""
    problems = [
        id_problem("traceId", span.trace_id, 16, where),
        id_problem("spanId", span.span_id, 8, where),
    ]
    if span.parent_span_id and len(span.parent_span_id) != 8:
        problems.append(
            f"parentSpanId must be empty or 8 bytes, got {len(span.parent_span_id)} bytes "
            f"({span.parent_span_id.hex()!r}) in {where}"
        )
    if not 0 <= span.kind < _KIND_COUNT:
        problems.append(f"kind must be 0..{_KIND_COUNT - 1}, got {span.kind} in {where}")
    if not 0 <= span.status.code < _STATUS_COUNT:
        problems.append(
            f"status.code must be 0..{_STATUS_COUNT - 1}, got {span.status.code} in {where}"
        )
    if span.end_time_unix_nano < span.start_time_unix_nano:
        problems.append(
            f"endTimeUnixNano ({span.end_time_unix_nano}) is before startTimeUnixNano "
            f"({span.start_time_unix_nano}) in {where}"
        )
    problems.append(_links_problem(span, where))
    return "; ".join(p for p in problems if p)


def _links_problem(span: Span, where: str) -> str:
    """What is wrong with the first bad link of `span`, or ""."""
    for j, link in enumerate(span.links):
        problems = [
            id_problem(f"links[{j}].traceId", link.trace_id, 16, where),
            id_problem(f"links[{j}].spanId", link.span_id, 8, where),
        ]
        if problem := "; ".join(p for p in problems if p):
            return problem
    return ""
