"""Decode an OTLP `ExportTraceServiceRequest` (protobuf) into `SpanColumns`.

This is the collector's hot path. Each span is read field by field straight into
the column lists: no intermediate object per span. Resource attributes are
flattened once per resource, and every span of that resource shares the same
dict, so the columns must be treated as read-only (storage only reads them).

Validation is a cheap check per span (collector/translate/span_validity.py); only
when it fails is the span looked at again to say exactly what is wrong and where.
An invalid span is left out and counted (partial success,
collector/translate/validation.py); the others are kept.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector.translate.attributes import flatten_attributes
from collector.translate.errors import parse_protobuf, span_path
from collector.translate.span_validity import links_problem, span_problems, valid_span
from collector.translate.validation import Decoded, Rejections, strict
from storage.model import SPAN_KINDS, STATUS_CODES, SpanColumns

UNKNOWN_SERVICE = "unknown_service"


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
                if not valid_span(trace_id, span_id, parent_id, kind, code, start, end) or (
                    span.links and links_problem(span.links, "")
                ):
                    rejections.add(span_problems(span, span_path(r, s, i)))
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
