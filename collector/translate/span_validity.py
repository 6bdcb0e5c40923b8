"""What a valid span is: the one definition both trace decoders check.

`valid_span` is the cheap check run on every span, by the Python decoder
(collector/translate/otlp_to_columns.py) and by the passthrough
(collector/translate/otlp_passthrough.py), which sends a request holding an
invalid span to the Python decoder so that the client is told why.
`span_problems` says what is wrong with a span that failed it, and where; the two
must agree, which tests/unit/test_collector_span_validity.py checks case by case.

`valid_span` takes the fields its caller has already read from the span (each
read of a protobuf field costs a lookup), and leaves links to `links_problem`:
most spans have none.
"""

from __future__ import annotations

from typing import Any

from collector.translate.validation import id_problem
from storage.model import SPAN_KINDS, STATUS_CODES

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_KIND_COUNT = len(SPAN_KINDS)
_STATUS_COUNT = len(STATUS_CODES)


def valid_span(
    trace_id: bytes, span_id: bytes, parent_id: bytes, kind: int, code: int, start: int, end: int
) -> bool:
    """Ids of the right length and not all zeros (the parent may be absent), a known
    kind and status code, and an end not before the start. Links: `links_problem`."""
    return (
        len(trace_id) == 16
        and len(span_id) == 8
        and trace_id != _ZERO_TRACE_ID
        and span_id != _ZERO_SPAN_ID
        and (not parent_id or len(parent_id) == 8)
        and 0 <= kind < _KIND_COUNT
        and 0 <= code < _STATUS_COUNT
        and start <= end
    )


def links_problem(links: Any, where: str) -> str:
    """What is wrong with the first bad link (ids as for spans, none absent), or ""."""
    for j, link in enumerate(links):
        problems = [
            id_problem(f"links[{j}].traceId", link.trace_id, 16, where),
            id_problem(f"links[{j}].spanId", link.span_id, 8, where),
        ]
        if problem := "; ".join(p for p in problems if p):
            return problem
    return ""


def span_problems(span: Any, where: str) -> str:
    """What is wrong with a span (an OTLP `Span`) that `valid_span` or
    `links_problem` refused, and where; "" for a valid span."""
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
    problems.append(links_problem(span.links, where))
    return "; ".join(p for p in problems if p)
