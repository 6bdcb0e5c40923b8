"""One definition of a valid span: the cheap check, the explanation and both decoders agree."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.translate import decode_traces_protobuf
from collector.translate.otlp_passthrough import decode_passthrough
from collector.translate.span_validity import links_problem, span_problems, valid_span

BREAKS: dict[str, Callable[[Span], object]] = {
    "short-trace-id": lambda s: setattr(s, "trace_id", b"\x01" * 15),
    "zero-trace-id": lambda s: setattr(s, "trace_id", bytes(16)),
    "long-span-id": lambda s: setattr(s, "span_id", b"\x01" * 9),
    "zero-span-id": lambda s: setattr(s, "span_id", bytes(8)),
    "short-parent-id": lambda s: setattr(s, "parent_span_id", b"\x01" * 7),
    "bad-kind": lambda s: setattr(s, "kind", 6),
    "bad-status-code": lambda s: s.status.SetInParent() or setattr(s.status, "code", 3),
    "ends-before-start": lambda s: setattr(s, "end_time_unix_nano", 9),
    "bad-link-span-id": lambda s: s.links.add(trace_id=b"\x01" * 16, span_id=b"\x02"),
    "zero-link-trace-id": lambda s: s.links.add(trace_id=bytes(16), span_id=b"\x02" * 8),
}


def a_span() -> Span:
    return Span(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8, name="op",
        kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=10, end_time_unix_nano=20,
    )  # fmt: skip


def is_valid(span: Span) -> bool:
    fields = (
        span.trace_id, span.span_id, span.parent_span_id, span.kind, span.status.code,
        span.start_time_unix_nano, span.end_time_unix_nano,
    )  # fmt: skip
    return valid_span(*fields) and not links_problem(span.links, "")


def request_of(span: Span) -> bytes:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request.SerializeToString()


def test_a_valid_span_and_a_root_span_pass_everywhere() -> None:
    for span in (a_span(), Span(**{**_fields(a_span()), "parent_span_id": b""})):
        assert is_valid(span)
        assert span_problems(span, "here") == ""
        assert decode_passthrough(request_of(span)) is not None
        assert decode_traces_protobuf(request_of(span)).rejected == 0


@pytest.mark.parametrize("name", BREAKS)
def test_each_invalid_span_fails_the_check_is_explained_and_refused_by_both(name: str) -> None:
    span = a_span()
    BREAKS[name](span)
    assert not is_valid(span)
    assert span_problems(span, "here").endswith("in here")
    assert decode_passthrough(request_of(span)) is None  # to the full decoder, which says why
    decoded = decode_traces_protobuf(request_of(span))
    assert decoded.rejected == 1
    assert decoded.rejections.first == span_problems(
        span, "resourceSpans[0].scopeSpans[0].spans[0]"
    )


def _fields(span: Span) -> dict[str, object]:
    return {field.name: value for field, value in span.ListFields()}
