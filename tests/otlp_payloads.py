"""SpanRecords as OTLP/protobuf export requests, and known mesh traces to send.

`encode_request` groups spans by resource, as an SDK does, so one request may
hold several services; `hop` builds the client/server pair a sidecar pair makes.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from storage.model import SpanRecord
from tests.spans import MS, make_span, new_span_id

_KINDS = {"Unspecified": 0, "Internal": 1, "Server": 2, "Client": 3, "Producer": 4, "Consumer": 5}
_STATUS = {"Unset": 0, "Ok": 1, "Error": 2}


def _attributes(values: dict[str, str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]


def encode_request(spans: list[SpanRecord]) -> bytes:
    """One ExportTraceServiceRequest with a ResourceSpans per distinct resource."""
    request = ExportTraceServiceRequest()
    by_resource: dict[tuple[tuple[str, str], ...], ResourceSpans] = {}
    for record in spans:
        key = tuple(sorted(record.resource_attributes.items()))
        resource_spans = by_resource.get(key)
        if resource_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.extend(_attributes(record.resource_attributes))
            resource_spans.scope_spans.add().scope.name = record.scope_name
            by_resource[key] = resource_spans
        resource_spans.scope_spans[0].spans.append(
            Span(
                trace_id=bytes.fromhex(record.trace_id),
                span_id=bytes.fromhex(record.span_id),
                parent_span_id=bytes.fromhex(record.parent_span_id),
                name=record.span_name,
                kind=_KINDS[record.span_kind],  # type: ignore[arg-type]
                start_time_unix_nano=record.timestamp_ns,
                end_time_unix_nano=record.end_ns,
                attributes=_attributes(record.span_attributes),
                status=Status(code=_STATUS[record.status_code]),  # type: ignore[arg-type]
            )
        )
    return request.SerializeToString()


def hop(
    *,
    trace_id: str,
    parent_span_id: str,
    client: str,
    server: str,
    operation: str,
    timestamp_ns: int,
    server_ms: int,
    client_ms: int | None = None,
    http_status: int = 200,
    server_version: str = "v1",
) -> tuple[SpanRecord, SpanRecord]:
    """The client span (in `client`) and server span (in `server`) of one call."""
    client_span = make_span(
        trace_id=trace_id,
        span_id=new_span_id(),
        parent_span_id=parent_span_id,
        service_name=client,
        span_name=operation,
        span_kind="Client",
        timestamp_ns=timestamp_ns,
        duration_ns=(client_ms if client_ms is not None else server_ms + 1) * MS,
        status_code="Error" if http_status >= 500 else "Unset",
        span_attributes={"http.response.status_code": str(http_status), "peer.service": server},
    )
    server_span = make_span(
        trace_id=trace_id,
        span_id=new_span_id(),
        parent_span_id=client_span.span_id,
        service_name=server,
        span_name=operation,
        span_kind="Server",
        timestamp_ns=timestamp_ns + MS // 2,
        duration_ns=server_ms * MS,
        status_code="Error" if http_status >= 500 else "Unset",
        span_attributes={"http.response.status_code": str(http_status)},
        resource_attributes={"service.version": server_version},
    )
    return client_span, server_span
