"""OTLP protobuf trace requests passed through to ClickHouse, which decodes them itself.

Decoding every attribute of every span in Python, then encoding them all again in
Python into ClickHouse's insert block, was most of what the collector spent per
span. Here a request is kept as the bytes it came in (storage/otlp_traces_writer.py
inserts them in ClickHouse's Protobuf format), and Python reads only what span
metrics and the service graph need: the span facts
(collector/processors/span_facts.py), through `FactsRequest`, whose attributes
are maps (collector/translate/passthrough_messages.py).

A request takes the usual Python path instead (`decode_passthrough` returns None,
`decode_traces_passthrough` then decodes it in full) when:
- it does not parse, or one of its spans is invalid (collector/translate/span_validity.py):
  the full decoder says exactly what is wrong, and keeps the valid spans (partial success);
- an attribute value is a double, array, kvlist or string table index, which
  ClickHouse's side does not convert as collector/translate/attributes.py does.
The rows in otel_traces are the same whichever way a request went.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.message import DecodeError

from collector.processors.span_facts import ClientSpan, ServerSpan, SpanFact, peer_of
from collector.processors.spanmetrics import status_class
from collector.translate.otlp_to_columns import UNKNOWN_SERVICE, decode_traces_protobuf
from collector.translate.passthrough_batch import PassthroughSpans
from collector.translate.passthrough_messages import FactsRequest, has_unconverted_values
from collector.translate.span_validity import links_problem, valid_span
from collector.translate.validation import Decoded, Rejections
from storage.model import SPAN_KINDS, STATUS_CODES, SpanColumns

_SERVER, _CLIENT = SPAN_KINDS.index("Server"), SPAN_KINDS.index("Client")
_HTTP_STATUS = ("http.response.status_code", "http.status_code")
_PEER_KEYS = ("db.system.name", "db.system", "peer.service", "server.address")


class _NotPassable(Exception):
    """The request must be decoded in Python."""


def decode_traces_passthrough(payload: bytes) -> Decoded[PassthroughSpans | SpanColumns]:
    """A drop-in for `decode_traces_protobuf`: the request passed through when it can
    be, else decoded in full (which also reports invalid spans)."""
    batch = decode_passthrough(payload)
    if batch is None:
        decoded = decode_traces_protobuf(payload)
        return Decoded(decoded.batch, decoded.rejections)
    return Decoded(batch, Rejections())


def decode_passthrough(payload: bytes) -> PassthroughSpans | None:
    """The request with its span facts, or None when it must be decoded in Python."""
    request = FactsRequest()
    try:
        request.ParseFromString(payload)
    except DecodeError:
        return None
    if has_unconverted_values(payload):
        return None
    try:
        facts, spans = _facts(request)
    except _NotPassable:
        return None
    return PassthroughSpans([payload], [spans], [facts], spans)


def _facts(request: Any) -> tuple[list[SpanFact], int]:
    facts: list[SpanFact] = []
    add = facts.append
    spans = 0
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource.attributes
        service = _text(resource["service.name"]) if "service.name" in resource else UNKNOWN_SERVICE
        version = _text(resource["service.version"]) if "service.version" in resource else ""
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent_id = span.parent_span_id
                kind = span.kind
                code = span.status.code
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                # An invalid span sends the request to the full decoder, which says why.
                if not valid_span(trace_id, span_id, parent_id, kind, code, start, end) or (
                    span.links and links_problem(span.links, "")
                ):
                    raise _NotPassable
                spans += 1
                if kind == _SERVER:
                    status, error = _status_class(code, _http_status(span.attributes))
                    add(ServerSpan(
                        trace_id + span_id, trace_id + parent_id if parent_id else b"",
                        start, service, span.name, version, status, error, end - start,
                    ))  # fmt: skip
                elif kind == _CLIENT:
                    attributes = span.attributes
                    peer = peer_of({k: _text(attributes[k]) for k in _PEER_KEYS if k in attributes})
                    add(ClientSpan(
                        trace_id + span_id, service, start, end - start,
                        STATUS_CODES[code] == "Error", peer,
                    ))  # fmt: skip
    return facts, spans


_STATUS_CLASSES: dict[tuple[int, str | None], tuple[str, bool]] = {}


def _status_class(code: int, http: str | None) -> tuple[str, bool]:
    """`status_class` of a span status code and HTTP status text, remembered: few
    pairs recur (and at most 1024 are kept, whatever clients send)."""
    known = _STATUS_CLASSES.get((code, http))
    if known is None:
        known = status_class(STATUS_CODES[code], {_HTTP_STATUS[0]: http} if http else {})
        if len(_STATUS_CLASSES) < 1024:
            _STATUS_CLASSES[code, http] = known
    return known


def _http_status(attributes: Any) -> str | None:
    """`attributes.get(A) or attributes.get(B)` over the two HTTP status keys, as text."""
    for key in _HTTP_STATUS:
        if key in attributes and (text := _text(attributes[key])):
            return text
    return None


def _text(value: Any) -> str:
    """An AnyValue as collector/translate/attributes.py writes it, for the kinds a
    passed-through request may hold (`has_unconverted_values` sent away the others)."""
    # A non-empty string or non-zero int can only be the oneof's member: no WhichOneof.
    text: str = value.string_value
    if text:
        return text
    number: int = value.int_value
    if number:
        return str(number)
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return ""
    if kind == "int_value":
        return "0"
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return ""
    raise _NotPassable
