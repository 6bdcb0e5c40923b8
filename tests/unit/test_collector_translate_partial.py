"""Partial success for traces: an invalid span is left out and counted, the others
kept, in both encodings; what cannot be read at all still refuses the request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.translate import (
    OtlpDecodeError,
    Rejections,
    decode_json,
    decode_traces_json,
    decode_traces_protobuf,
)

TRACE_JSON = (Path(__file__).parent / "otlp_data" / "trace.json").read_bytes()
SPANS = "resourceSpans[0].scopeSpans[0].spans"


def three_spans() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(1, 4):
        scope.spans.add(
            trace_id=bytes([i]) * 16, span_id=bytes([i]) * 8, name=f"op{i}",
            start_time_unix_nano=10, end_time_unix_nano=20,
        )  # fmt: skip
    return request


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda s: setattr(s, "trace_id", b"\x01" * 15),
            f"traceId must be 16 bytes, got 15 bytes ('{'01' * 15}') in {SPANS}[1]",
        ),
        (lambda s: setattr(s, "span_id", bytes(8)), f"spanId must not be all zeros in {SPANS}[1]"),
        (lambda s: setattr(s, "kind", 9), f"kind must be 0..5, got 9 in {SPANS}[1]"),
        (
            lambda s: setattr(s, "end_time_unix_nano", 5),
            f"endTimeUnixNano (5) is before startTimeUnixNano (10) in {SPANS}[1]",
        ),
        (
            lambda s: s.links.add(trace_id=b"\x01" * 16, span_id=b"\x02"),
            f"links[0].spanId must be 8 bytes, got 1 bytes ('02') in {SPANS}[1]",
        ),
    ],
    ids=["short-trace-id", "zero-span-id", "bad-kind", "ends-before-start", "bad-link"],
)
def test_protobuf_keeps_the_valid_spans(break_it: object, message: str) -> None:
    request = three_spans()
    span: Span = request.resource_spans[0].scope_spans[0].spans[1]
    break_it(span)  # type: ignore[operator]
    decoded = decode_traces_protobuf(request.SerializeToString())
    assert decoded.batch.SpanName == ["op1", "op3"]
    assert decoded.rejected == 1
    assert decoded.rejections.first == message


def test_every_rejection_is_counted_the_first_named() -> None:
    request = three_spans()
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.trace_id = b"\x01"
    decoded = decode_traces_protobuf(request.SerializeToString())
    assert len(decoded.batch) == 0 and decoded.rejected == 3
    assert decoded.rejections.message("span") == (
        f"traceId must be 16 bytes, got 1 bytes ('01') in {SPANS}[0] (and 2 more spans rejected)"
    )


def json_with_two_spans(second_trace_id: str) -> str:
    document = json.loads(TRACE_JSON)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], traceId=second_trace_id, name="second"))
    return json.dumps(document)


def test_json_span_of_the_wrong_length_is_left_out_with_its_columns() -> None:
    decoded = decode_traces_json(json_with_two_spans("5b8efff798038103d269b633813fc6"))
    assert decoded.rejected == 1
    assert decoded.rejections.first == (
        f"traceId must be 32 hex characters, got '5b8efff798038103d269b633813fc6' in {SPANS}[1]"
    )
    assert decoded.batch.check() == 1  # no column keeps a value of the rejected span
    with pytest.raises(OtlpDecodeError, match="traceId must be 32 hex"):
        decode_json(json_with_two_spans("00"))  # all or nothing: the old API


def test_json_id_that_is_not_hex_refuses_the_request() -> None:
    with pytest.raises(OtlpDecodeError) as error:
        decode_traces_json(json_with_two_spans("xyz"))
    assert str(error.value) == f"traceId must be 32 hex characters, got 'xyz' in {SPANS}[1]"


def test_rejections_message_for_one() -> None:
    rejections = Rejections()
    rejections.add("a in b")
    assert rejections.message("span") == "a in b"
