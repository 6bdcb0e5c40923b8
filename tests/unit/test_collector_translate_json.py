"""OTLP/JSON -> SpanColumns, including the specification's own example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector import OtlpDecodeError, decode_json, decode_request

DATA = Path(__file__).parent / "otlp_data"


def test_specification_example() -> None:
    columns = decode_json((DATA / "trace.json").read_bytes())

    assert len(columns) == 1
    assert columns.TraceId == ["5b8efff798038103d269b633813fc60c"]
    assert columns.SpanId == ["eee19b7ec3c1b174"]
    assert columns.ParentSpanId == ["eee19b7ec3c1b173"]
    assert columns.SpanName == ["I'm a server span"]
    assert columns.SpanKind == ["Server"]
    assert columns.Timestamp == [1544712660000000000]
    assert columns.Duration == [1_000_000_000]
    assert columns.ServiceName == ["my.service"]
    assert columns.ResourceAttributes == [{"service.name": "my.service"}]
    assert columns.ScopeName == ["my.library"]
    assert columns.ScopeVersion == ["1.0.0"]
    assert columns.SpanAttributes == [{"my.span.attr": "some value"}]
    assert columns.StatusCode == ["Unset"]
    assert columns.EventsName == [[]]
    assert columns.LinksTraceId == [[]]


def _kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))  # type: ignore[arg-type]


def _all_fields_as_protobuf() -> ExportTraceServiceRequest:
    """The same spans as otlp_data/all_fields.json, built as protobuf."""
    trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    cart = Span(
        trace_id=trace_id,
        span_id=bytes.fromhex("b7ad6b7169203331"),
        trace_state="congo=t61rcWkgMzE",
        name="GET /cart",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1700000000000000000,
        end_time_unix_nano=1700000000250000000,
        attributes=[
            _kv("str", string_value="text"),
            _kv("bool", bool_value=True),
            _kv("int", int_value=-42),
            _kv("int_number", int_value=7),
            _kv("double", double_value=2.5),
            _kv("bytes", bytes_value=b"\x00\x01\x02"),
            _kv(
                "array",
                array_value=ArrayValue(
                    values=[
                        AnyValue(string_value="a"),
                        AnyValue(int_value=1),
                        AnyValue(bool_value=False),
                        AnyValue(double_value=0.5),
                    ]
                ),
            ),
            _kv(
                "kvlist",
                kvlist_value=KeyValueList(
                    values=[
                        _kv("k", string_value="v"),
                        _kv("n", array_value=ArrayValue(values=[AnyValue(int_value=2)])),
                    ]
                ),
            ),
            KeyValue(key="empty", value=AnyValue()),
        ],
        events=[
            Span.Event(
                time_unix_nano=1700000000100000000,
                name="retry",
                attributes=[_kv("attempt", int_value=2)],
            )
        ],
        links=[
            Span.Link(
                trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
                span_id=bytes.fromhex("00f067aa0ba902b7"),
                trace_state="x=1",
                attributes=[_kv("link.kind", string_value="follows")],
            )
        ],
        status=Status(code=Status.STATUS_CODE_ERROR, message="upstream reset"),
        flags=257,
    )
    pay = Span(
        trace_id=trace_id,
        span_id=bytes.fromhex("00f067aa0ba902b7"),
        parent_span_id=bytes.fromhex("b7ad6b7169203331"),
        name="POST /pay",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1700000000010000000,
        end_time_unix_nano=1700000000200000000,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    orphan = Span(
        trace_id=bytes.fromhex("11" * 16),
        span_id=bytes.fromhex("22" * 8),
        name="orphan",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
    )
    resource = Resource(
        attributes=[
            _kv("service.name", string_value="checkout"),
            _kv("service.version", string_value="v2"),
            _kv("host.cpus", int_value=8),
        ]
    )
    scope = InstrumentationScope(name="meshlens.proxy", version="0.1.0")
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=[cart, pay])]
            ),
            ResourceSpans(scope_spans=[ScopeSpans(spans=[orphan])]),
        ]
    )


def test_json_and_protobuf_decode_to_the_same_columns() -> None:
    from_json = decode_json((DATA / "all_fields.json").read_bytes())
    from_protobuf = decode_request(_all_fields_as_protobuf())
    assert from_json == from_protobuf


def test_all_fields_values() -> None:
    columns = decode_json((DATA / "all_fields.json").read_bytes())
    assert columns.SpanAttributes[0] == {
        "str": "text",
        "bool": "true",
        "int": "-42",
        "int_number": "7",
        "double": "2.5",
        "bytes": "AAEC",
        "array": '["a",1,false,0.5]',
        "kvlist": '{"k":"v","n":[2]}',
        "empty": "",
    }
    assert columns.ResourceAttributes[0]["host.cpus"] == "8"
    assert columns.ServiceName == ["checkout", "checkout", "unknown_service"]
    assert columns.SpanKind == ["Server", "Client", "Unspecified"]
    assert columns.StatusCode == ["Error", "Ok", "Unset"]
    assert columns.ParentSpanId == ["", "b7ad6b7169203331", ""]
    assert columns.LinksTraceId[0] == ["4bf92f3577b34da6a3ce929d0e0e4736"]
    assert columns.EventsTimestamp[0] == [1700000000100000000]
    assert columns.EventsAttributes[0] == [{"attempt": "2"}]


def _one_span(**span: object) -> bytes:
    fields: dict[str, object] = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "op",
        "startTimeUnixNano": "10",
        "endTimeUnixNano": "20",
    }
    good = dict(fields, spanId="00f067aa0ba902b7")
    fields.update(span)
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [good, good, fields]}]}]}
    return json.dumps(document).encode()


def test_enum_names_are_accepted() -> None:
    columns = decode_json(
        _one_span(kind="SPAN_KIND_PRODUCER", status={"code": "STATUS_CODE_ERROR"})
    )
    assert columns.SpanKind[2] == "Producer"
    assert columns.StatusCode[2] == "Error"


WHERE = "in resourceSpans[0].scopeSpans[0].spans[2]"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"traceId": "xyz"}, f"traceId must be 32 hex characters, got 'xyz' {WHERE}"),
        # protobuf's own JSON mapping would send base64: not OTLP/JSON
        (
            {"traceId": "CvdlGRbNQ92ESOshHIAxnA=="},
            f"traceId must be 32 hex characters, got 'CvdlGRbNQ92ESOshHIAxnA==' {WHERE}",
        ),
        ({"traceId": None}, f"traceId must be 32 hex characters, got '' {WHERE}"),
        ({"traceId": "0" * 32}, f"traceId must not be all zeros {WHERE}"),
        ({"spanId": "b7ad6b71692033"}, "spanId must be 16 hex characters, got 'b7ad6b71692033'"),
        ({"spanId": 12}, f"spanId must be 16 hex characters, got 12 {WHERE}"),
        ({"parentSpanId": "zz"}, f"parentSpanId must be 16 hex characters, got 'zz' {WHERE}"),
        ({"kind": 6}, f"kind must be an integer 0..5, got 6 {WHERE}"),
        ({"kind": "SERVER"}, f"kind must be an integer 0..5, got 'SERVER' {WHERE}"),
        ({"kind": True}, f"kind must be an integer 0..5, got True {WHERE}"),
        ({"status": {"code": 3}}, f"status.code must be an integer 0..2, got 3 {WHERE}"),
        ({"status": "ok"}, f"status must be an object, got 'ok' {WHERE}"),
        (
            {"startTimeUnixNano": "12.5"},
            f"startTimeUnixNano must be an unsigned 64-bit integer (number or decimal string), "
            f"got '12.5' {WHERE}",
        ),
        ({"endTimeUnixNano": "-1"}, "endTimeUnixNano must be an unsigned 64-bit integer"),
        ({"endTimeUnixNano": "5"}, f"endTimeUnixNano (5) is before startTimeUnixNano (10) {WHERE}"),
        ({"name": 5}, f"name must be a string, got 5 {WHERE}"),
        ({"attributes": {"a": "b"}}, f"attributes must be a list, got {{'a': 'b'}} {WHERE}"),
        (
            {"attributes": [{"key": "n", "value": {"intValue": "ten"}}]},
            "attributes[0].value.intValue must be a 64-bit integer (number or decimal string), "
            f"got 'ten' {WHERE}",
        ),
        (
            {"attributes": [{"key": "n", "value": {"intValue": str(2**63)}}]},
            "attributes[0].value.intValue must be a 64-bit integer",
        ),
        (
            {"attributes": [{"key": "b", "value": {"boolValue": "yes"}}]},
            f"attributes[0].value.boolValue must be true or false, got 'yes' {WHERE}",
        ),
        (
            {
                "attributes": [
                    {"key": "a", "value": {"arrayValue": {"values": [{"doubleValue": "x"}]}}}
                ]
            },
            "attributes[0].value.arrayValue.values[0].doubleValue must be a number, "
            f"got 'x' {WHERE}",
        ),
        (
            {"events": [{"name": "e", "attributes": [{"key": 1}]}]},
            f"events[0].attributes[0].key must be a string, got 1 {WHERE}",
        ),
        (
            {"links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "x"}]},
            f"links[0].spanId must be 16 hex characters, got 'x' {WHERE}",
        ),
        ({"events": [7]}, "resourceSpans[0].scopeSpans[0].spans[2].events[0] must be an object"),
    ],
)
def test_invalid_span_names_field_and_path(bad: dict[str, object], message: str) -> None:
    with pytest.raises(OtlpDecodeError) as error:
        decode_json(_one_span(**bad))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"resourceSpans": [{"scopeSpans": x}]}', "invalid JSON at line 1 column 35"),
        (b'{\n  "resourceSpans": [\n', "invalid JSON at line 3 column 1"),
        (b"", "invalid JSON at line 1 column 1"),
        (b"[1, 2]", "request must be a JSON object with resourceSpans, got [1, 2]"),
        (b'{"resourceSpans": {}}', "resourceSpans must be a list, got {} in request"),
        (b'{"resourceSpans": [3]}', "resourceSpans[0] must be an object, got 3"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_documents(payload: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as error:
        decode_json(payload)
    assert message in str(error.value)


def test_unknown_and_snake_case_keys_are_ignored() -> None:
    # Only lowerCamelCase names are OTLP/JSON; anything else is an unknown field.
    columns = decode_json(_one_span(span_id="ignored", futureField=[1, 2], kind=None))
    assert columns.SpanId[2] == "b7ad6b7169203331"
    assert columns.SpanKind[2] == "Unspecified"


def test_int64_as_numbers_and_strings() -> None:
    columns = decode_json(
        _one_span(startTimeUnixNano=1700000000000000000, endTimeUnixNano="1700000000000000001")
    )
    assert columns.Timestamp[2] == 1700000000000000000
    assert columns.Duration[2] == 1
