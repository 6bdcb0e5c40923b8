"""Decode an OTLP/JSON `ExportTraceServiceRequest` into `SpanColumns`.

OTLP/JSON is not protobuf's canonical JSON mapping: trace and span ids are hex
(protobuf's mapping would read them as base64), enums are integers, keys are
lowerCamelCase and 64-bit integers come as decimal strings or numbers. So this
walks the parsed dicts directly instead of going through `json_format`, which
also lets every error name its field path. Unknown keys are ignored, as the spec
requires of receivers. A span that reads but is invalid (an id of the wrong
length, an unknown kind) is left out and counted, as in the protobuf decoder.
"""

from __future__ import annotations

import json
import re
from typing import Any

from collector.translate.attributes import flatten_json_attributes, parse_json_integer
from collector.translate.errors import OtlpDecodeError, shorten, span_path
from collector.translate.otlp_to_columns import UNKNOWN_SERVICE
from collector.translate.validation import Decoded, InvalidItem, Rejections, strict
from storage.model import SPAN_KINDS, STATUS_CODES, SpanColumns

_HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})*")
_UINT64_MAX = 2**64 - 1
# Senders must write enums as integers; protobuf's names are accepted as well
# because protobuf-based JSON encoders produce them.
_KIND_BY_NAME = {
    name: i
    for i, name in enumerate(
        (
            "SPAN_KIND_UNSPECIFIED",
            "SPAN_KIND_INTERNAL",
            "SPAN_KIND_SERVER",
            "SPAN_KIND_CLIENT",
            "SPAN_KIND_PRODUCER",
            "SPAN_KIND_CONSUMER",
        )
    )
}
_STATUS_BY_NAME = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def decode_json(payload: bytes | str) -> SpanColumns:
    """Parse an OTLP/JSON trace export body and decode it, all or nothing."""
    return strict(decode_traces_json(payload))


def decode_traces_json(payload: bytes | str) -> Decoded[SpanColumns]:
    """Parse an OTLP/JSON trace export body; its valid spans and the rejected ones."""
    return decode_json_spans(load_json(payload))


def load_json(payload: bytes | str) -> object:
    """The parsed JSON document, or OtlpDecodeError saying where it stops being JSON."""
    try:
        return json.loads(payload)
    except json.JSONDecodeError as exc:
        raise OtlpDecodeError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise OtlpDecodeError(f"request body is not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise OtlpDecodeError("invalid JSON: nested too deeply") from None


def decode_json_document(document: object) -> SpanColumns:
    """Decode an already parsed OTLP/JSON document, all or nothing."""
    return strict(decode_json_spans(document))


def decode_json_spans(document: object) -> Decoded[SpanColumns]:
    """Decode an already parsed OTLP/JSON document; its valid spans and the rejected."""
    if not isinstance(document, dict):
        raise OtlpDecodeError(
            f"request must be a JSON object with resourceSpans, got {shorten(document)}"
        )
    columns = SpanColumns()
    rejections = Rejections()
    for r, item in enumerate(_list(document, "resourceSpans", "request")):
        where = f"resourceSpans[{r}]"
        resource_spans = _as_object(item, where)
        resource = _object(resource_spans, "resource", where)
        resource_attrs = flatten_json_attributes(
            resource.get("attributes"), "attributes", f"{where}.resource"
        )
        service = resource_attrs.get("service.name", UNKNOWN_SERVICE)
        for s, scope_item in enumerate(_list(resource_spans, "scopeSpans", where)):
            scope_where = f"{where}.scopeSpans[{s}]"
            scope_spans = _as_object(scope_item, scope_where)
            scope = _object(scope_spans, "scope", scope_where)
            scope_name = _string(scope, "name", f"{scope_where}.scope")
            scope_version = _string(scope, "version", f"{scope_where}.scope")
            for i, span in enumerate(_list(scope_spans, "spans", scope_where)):
                rows = len(columns)
                try:
                    _append_span(
                        columns, span, span_path(r, s, i), service, resource_attrs,
                        scope_name, scope_version,
                    )  # fmt: skip
                except InvalidItem as invalid:
                    columns.truncate(rows)  # the columns it had appended to
                    rejections.add(str(invalid))
    return Decoded(columns, rejections)


def _append_span(
    columns: SpanColumns,
    item: object,
    where: str,
    service: str,
    resource_attrs: dict[str, str],
    scope_name: str,
    scope_version: str,
) -> None:
    span = _as_object(item, where)
    start = _uint64(span, "startTimeUnixNano", where)
    end = _uint64(span, "endTimeUnixNano", where)
    if end < start:
        raise InvalidItem(
            f"endTimeUnixNano ({end}) is before startTimeUnixNano ({start}) in {where}"
        )
    status = _object(span, "status", where)
    columns.Timestamp.append(start)
    columns.TraceId.append(_trace_id(span.get("traceId"), "traceId", where))
    columns.SpanId.append(_span_id(span.get("spanId"), "spanId", where))
    parent = span.get("parentSpanId")
    columns.ParentSpanId.append(
        "" if parent is None or parent == "" else _span_id(parent, "parentSpanId", where)
    )
    columns.TraceState.append(_string(span, "traceState", where))
    columns.SpanName.append(_string(span, "name", where))
    columns.SpanKind.append(SPAN_KINDS[_enum(span.get("kind"), _KIND_BY_NAME, "kind", where)])
    columns.ServiceName.append(service)
    columns.ResourceAttributes.append(resource_attrs)
    columns.ScopeName.append(scope_name)
    columns.ScopeVersion.append(scope_version)
    columns.SpanAttributes.append(
        flatten_json_attributes(span.get("attributes"), "attributes", where)
    )
    columns.Duration.append(end - start)
    columns.StatusCode.append(
        STATUS_CODES[_enum(status.get("code"), _STATUS_BY_NAME, "status.code", where)]
    )
    columns.StatusMessage.append(_string(status, "message", f"{where}.status"))

    events_ts: list[int] = []
    events_name: list[str] = []
    events_attrs: list[dict[str, str]] = []
    for j, event_item in enumerate(_list(span, "events", where)):
        field = f"events[{j}]"
        event = _as_object(event_item, f"{where}.{field}")
        events_ts.append(_uint64(event, "timeUnixNano", f"{where}.{field}"))
        events_name.append(_string(event, "name", f"{where}.{field}"))
        events_attrs.append(
            flatten_json_attributes(event.get("attributes"), f"{field}.attributes", where)
        )
    columns.EventsTimestamp.append(events_ts)
    columns.EventsName.append(events_name)
    columns.EventsAttributes.append(events_attrs)

    links_trace: list[str] = []
    links_span: list[str] = []
    links_state: list[str] = []
    links_attrs: list[dict[str, str]] = []
    for j, link_item in enumerate(_list(span, "links", where)):
        field = f"links[{j}]"
        link = _as_object(link_item, f"{where}.{field}")
        links_trace.append(_trace_id(link.get("traceId"), f"{field}.traceId", where))
        links_span.append(_span_id(link.get("spanId"), f"{field}.spanId", where))
        links_state.append(_string(link, "traceState", f"{where}.{field}"))
        links_attrs.append(
            flatten_json_attributes(link.get("attributes"), f"{field}.attributes", where)
        )
    columns.LinksTraceId.append(links_trace)
    columns.LinksSpanId.append(links_span)
    columns.LinksTraceState.append(links_state)
    columns.LinksAttributes.append(links_attrs)


def _trace_id(value: object, field: str, where: str) -> str:
    return _hex_id(value, 16, field, where)


def _span_id(value: object, field: str, where: str) -> str:
    return _hex_id(value, 8, field, where)


def _hex_id(value: object, size: int, field: str, where: str) -> str:
    """Hex text that is no id (not text, not hex) is unreadable: the request is refused.
    Hex of the wrong length, or all zeros, is an invalid id: only its span is."""
    value = "" if value is None else value
    wrong = f"{field} must be {2 * size} hex characters, got {shorten(value)} in {where}"
    if not isinstance(value, str) or not _HEX_BYTES.fullmatch(value):
        raise OtlpDecodeError(wrong)
    if len(value) != 2 * size:
        raise InvalidItem(wrong)
    if value.strip("0") == "":
        raise InvalidItem(f"{field} must not be all zeros in {where}")
    return value.lower()


def _enum(value: object, by_name: dict[str, int], field: str, where: str) -> int:
    if value is None:
        return 0
    number = by_name.get(value) if isinstance(value, str) else value
    if type(number) is not int or not 0 <= number < len(by_name):
        problem = OtlpDecodeError if type(number) is not int else InvalidItem
        raise problem(
            f"{field} must be an integer 0..{len(by_name) - 1}, got {shorten(value)} in {where}"
        )
    return number


def _uint64(owner: dict[str, Any], key: str, where: str) -> int:
    raw = owner.get(key)
    if raw is None:
        return 0
    number = parse_json_integer(raw)
    if number is None or not 0 <= number <= _UINT64_MAX:
        raise OtlpDecodeError(
            f"{key} must be an unsigned 64-bit integer (number or decimal string), "
            f"got {shorten(raw)} in {where}"
        )
    return number


def _string(owner: dict[str, Any], key: str, where: str) -> str:
    value = owner.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OtlpDecodeError(f"{key} must be a string, got {shorten(value)} in {where}")
    return value


def _list(owner: dict[str, Any], key: str, where: str) -> list[Any]:
    value = owner.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{key} must be a list, got {shorten(value)} in {where}")
    return value


def _object(owner: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = owner.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{key} must be an object, got {shorten(value)} in {where}")
    return value


def _as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{where} must be an object, got {shorten(value)}")
    return value
