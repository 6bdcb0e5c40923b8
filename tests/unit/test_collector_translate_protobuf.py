"""Protobuf ExportTraceServiceRequest -> SpanColumns."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from collector import OtlpDecodeError, decode_protobuf, decode_request

TRACE_ID = bytes.fromhex("0AF7651916CD43DD8448EB211C80319C")
SPAN_ID = bytes.fromhex("B7AD6B7169203331")
PARENT_ID = bytes.fromhex("00F067AA0BA902B7")


def _span(**overrides: object) -> Span:
    fields: dict[str, object] = {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "parent_span_id": PARENT_ID,
        "name": "GET /cart",
        "kind": Span.SPAN_KIND_SERVER,
        "start_time_unix_nano": 1_700_000_000_000_000_000,
        "end_time_unix_nano": 1_700_000_000_250_000_000,
    }
    fields.update(overrides)
    return Span(**fields)  # type: ignore[arg-type]


def _request(*spans: Span, service: str | None = "checkout") -> ExportTraceServiceRequest:
    attributes = []
    if service is not None:
        attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attributes),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="meshlens.proxy", version="0.1.0"),
                        spans=list(spans),
                    )
                ],
            )
        ]
    )


def test_decodes_one_span_into_every_column() -> None:
    span = _span(
        trace_state="congo=t61rcWkgMzE",
        attributes=[KeyValue(key="http.route", value=AnyValue(string_value="/cart"))],
        status=Status(code=Status.STATUS_CODE_ERROR, message="upstream reset"),
        events=[Span.Event(time_unix_nano=5, name="retry")],
        links=[Span.Link(trace_id=TRACE_ID, span_id=PARENT_ID, trace_state="x=1")],
    )
    columns = decode_protobuf(_request(span).SerializeToString())

    assert len(columns) == 1
    assert columns.Timestamp == [1_700_000_000_000_000_000]
    assert columns.Duration == [250_000_000]
    assert columns.TraceId == ["0af7651916cd43dd8448eb211c80319c"]
    assert columns.SpanId == ["b7ad6b7169203331"]
    assert columns.ParentSpanId == ["00f067aa0ba902b7"]
    assert columns.TraceState == ["congo=t61rcWkgMzE"]
    assert columns.SpanName == ["GET /cart"]
    assert columns.SpanKind == ["Server"]
    assert columns.ServiceName == ["checkout"]
    assert columns.ResourceAttributes == [{"service.name": "checkout"}]
    assert columns.ScopeName == ["meshlens.proxy"]
    assert columns.ScopeVersion == ["0.1.0"]
    assert columns.SpanAttributes == [{"http.route": "/cart"}]
    assert columns.StatusCode == ["Error"]
    assert columns.StatusMessage == ["upstream reset"]
    assert columns.EventsTimestamp == [[5]]
    assert columns.EventsName == [["retry"]]
    assert columns.EventsAttributes == [[{}]]
    assert columns.LinksTraceId == [["0af7651916cd43dd8448eb211c80319c"]]
    assert columns.LinksSpanId == [["00f067aa0ba902b7"]]
    assert columns.LinksTraceState == [["x=1"]]
    assert columns.LinksAttributes == [[{}]]


def test_every_column_has_one_entry_per_span() -> None:
    spans = [_span(span_id=bytes([i + 1]) * 8) for i in range(5)]
    columns = decode_request(_request(*spans))
    for field in dataclasses.fields(columns):
        assert len(getattr(columns, field.name)) == 5, field.name


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (0, "Unspecified"),
        (1, "Internal"),
        (2, "Server"),
        (3, "Client"),
        (4, "Producer"),
        (5, "Consumer"),
    ],
)
def test_span_kinds(kind: int, expected: str) -> None:
    assert decode_request(_request(_span(kind=kind))).SpanKind == [expected]


@pytest.mark.parametrize(("code", "expected"), [(0, "Unset"), (1, "Ok"), (2, "Error")])
def test_status_codes(code: int, expected: str) -> None:
    status = Status(code=code)  # type: ignore[arg-type]
    assert decode_request(_request(_span(status=status))).StatusCode == [expected]


def test_missing_service_name_is_unknown_service() -> None:
    columns = decode_request(_request(_span(), service=None))
    assert columns.ServiceName == ["unknown_service"]
    assert columns.ResourceAttributes == [{}]


def test_root_span_has_empty_parent() -> None:
    assert decode_request(_request(_span(parent_span_id=b""))).ParentSpanId == [""]


def test_empty_request_gives_empty_columns() -> None:
    assert len(decode_protobuf(b"")) == 0


WHERE = "in resourceSpans[0].scopeSpans[0].spans[1]"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"trace_id": b"\x01\x02\x03"},
            "traceId must be 16 bytes, got 3 bytes ('010203') " + WHERE,
        ),
        ({"trace_id": b""}, "traceId must be 16 bytes, got 0 bytes ('') " + WHERE),
        ({"trace_id": bytes(16)}, "traceId must not be all zeros " + WHERE),
        ({"span_id": b"\x01" * 9}, "spanId must be 8 bytes, got 9 bytes"),
        ({"span_id": bytes(8)}, "spanId must not be all zeros " + WHERE),
        ({"parent_span_id": b"\x01" * 4}, "parentSpanId must be empty or 8 bytes, got 4 bytes"),
        ({"kind": 9}, "kind must be 0..5, got 9 " + WHERE),
        ({"status": Status(code=7)}, "status.code must be 0..2, got 7 " + WHERE),  # type: ignore[arg-type]
        (
            {"start_time_unix_nano": 10, "end_time_unix_nano": 5},
            "endTimeUnixNano (5) is before startTimeUnixNano (10) " + WHERE,
        ),
        (
            {"links": [Span.Link(trace_id=TRACE_ID, span_id=b"\x01")]},
            "links[0].spanId must be 8 bytes, got 1 bytes ('01') " + WHERE,
        ),
    ],
)
def test_invalid_span_names_field_and_path(bad: dict[str, object], message: str) -> None:
    request = _request(_span(), _span(**bad))
    with pytest.raises(OtlpDecodeError) as error:
        decode_protobuf(request.SerializeToString())
    assert message in str(error.value)


def test_truncated_payload_is_a_decode_error() -> None:
    payload = _request(_span(), _span()).SerializeToString()
    with pytest.raises(OtlpDecodeError, match=r"invalid protobuf ExportTraceServiceRequest"):
        decode_protobuf(payload[:-7])


def test_garbage_payload_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError, match=r"invalid protobuf"):
        decode_protobuf(b"\xff\xff\xff\xff not protobuf")


def test_spans_encoded_by_the_opentelemetry_sdk() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector", "1.2.3")
    attributes: dict[str, AttributeValue] = {"n": 3, "ok": True, "tags": ["a", "b"]}
    with (
        tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent,
        tracer.start_as_current_span("child", kind=SpanKind.CLIENT, attributes=attributes) as child,
    ):
        child.add_event("sent", {"bytes": 12})
        child.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()
    sdk_spans = memory.get_finished_spans()

    columns = decode_protobuf(encode_spans(sdk_spans).SerializeToString())

    parent_ctx, child_ctx = parent.get_span_context(), child.get_span_context()
    by_name = {name: i for i, name in enumerate(columns.SpanName)}
    c, p = by_name["child"], by_name["parent"]
    assert columns.TraceId[c] == columns.TraceId[p] == format(parent_ctx.trace_id, "032x")
    assert columns.SpanId[p] == format(parent_ctx.span_id, "016x")
    assert columns.ParentSpanId[c] == format(parent_ctx.span_id, "016x")
    assert columns.SpanId[c] == format(child_ctx.span_id, "016x")
    assert columns.ParentSpanId[p] == ""
    assert columns.SpanKind[c] == "Client"
    assert columns.SpanKind[p] == "Server"
    assert columns.ServiceName == ["shop", "shop"]
    assert columns.ScopeName[c] == "tests.collector"
    assert columns.ScopeVersion[c] == "1.2.3"
    assert columns.SpanAttributes[c] == {"n": "3", "ok": "true", "tags": '["a","b"]'}
    assert columns.StatusCode[c] == "Error"
    assert columns.StatusMessage[c] == "boom"
    assert columns.EventsName[c] == ["sent"]
    assert columns.EventsAttributes[c] == [{"bytes": "12"}]
    sdk_child = next(s for s in sdk_spans if s.name == "child")
    assert sdk_child.start_time is not None
    assert sdk_child.end_time is not None
    assert columns.Timestamp[c] == sdk_child.start_time
    assert columns.Duration[c] == sdk_child.end_time - sdk_child.start_time
