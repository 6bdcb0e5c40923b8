"""OTLP/JSON metrics and logs requests read into their protobuf messages.

Traces have a decoder of their own that walks the JSON straight into columns
(their hot path). Metrics and logs are read by protobuf's JSON parser instead,
so that one decoder per signal (the protobuf one) validates and flattens both
encodings. Two differences from protobuf's JSON mapping are bridged here:
- trace and span ids are hex in OTLP/JSON, base64 in protobuf's mapping: they
  are rewritten before parsing (text that is not hex refuses the request; hex of
  the wrong length is left for the decoder to reject its one item);
- protobuf's errors name the failing field's path only for some failures: for
  the others the failing element is found by parsing the lists' elements one by
  one, so that every message names a full path, e.g. `...metrics[2].gauge.dataPoints[0]`.
Unknown keys are ignored, as the spec requires of receivers.
"""

from __future__ import annotations

import base64
import re
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from collector.translate.errors import OtlpDecodeError, shorten
from collector.translate.otlp_json import load_json

M = TypeVar("M", bound=Message)

_ID_FIELDS = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}
_HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})*")
# Attribute values nest but never hold ids: their subtrees are not walked for them.
_NO_IDS_INSIDE = "opentelemetry.proto.common."
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field: ")


def parse_json_request(payload: bytes | str, message: M) -> M:
    """Fill `message` (an empty Export*ServiceRequest) from an OTLP/JSON body."""
    document = load_json(payload)
    descriptor = message.DESCRIPTOR
    if not isinstance(document, dict):
        first = descriptor.fields[0].json_name
        raise OtlpDecodeError(
            f"request must be a JSON object with {first}, got {shorten(document)}"
        )
    try:
        _hex_ids_to_base64(document, descriptor, "")
    except RecursionError:
        raise OtlpDecodeError("invalid JSON: nested too deeply") from None
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpDecodeError(_explain(exc, document, descriptor)) from None
    return message


def _field(descriptor: Any, key: str) -> FieldDescriptor | None:
    return descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)


def _elements(field: FieldDescriptor, value: object, path: str) -> list[tuple[str, Any]]:
    """(path, element) of a message field's value: each element of a list, or the one."""
    if field.is_repeated and isinstance(value, list):
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    return [(path, value)]


def _hex_ids_to_base64(document: dict[str, Any], descriptor: Any, path: str) -> None:
    for key, value in document.items():
        field = _field(descriptor, key)
        if field is None or value is None:
            continue
        where = f"{path}.{key}" if path else key
        if field.message_type is not None:
            if field.message_type.full_name.startswith(_NO_IDS_INSIDE):
                continue
            for place, item in _elements(field, value, where):
                if isinstance(item, dict):
                    _hex_ids_to_base64(item, field.message_type, place)
        elif field.name in _ID_FIELDS and field.type == FieldDescriptor.TYPE_BYTES:
            if not isinstance(value, str) or not _HEX_BYTES.fullmatch(value):
                size = _ID_FIELDS[field.name]
                raise OtlpDecodeError(
                    f"{key} must be {2 * size} hex characters, got {shorten(value)} in {path}"
                )
            document[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _explain(
    error: json_format.ParseError, document: dict[str, Any], descriptor: Any
) -> str:
    """protobuf's message, reduced to its innermost part, with the path of what failed."""
    text = str(error)
    failed = _FAILED_FIELD.findall(text)
    reason = _FAILED_FIELD.split(text)[-1].rstrip(".")
    reason, _, at = reason.partition(" at ")
    _, _, where = at.partition(".")  # "ExportMetricsServiceRequest.resourceMetrics[0]..."
    if where:
        return f"{reason} in {where}"
    what = f"{failed[-1]}: {reason}" if failed else reason
    where = _locate(document, descriptor, "")
    return f"{what} in {where}" if where else what


def _locate(document: dict[str, Any], descriptor: Any, path: str) -> str:
    """The path of the innermost message element that does not parse on its own."""
    for key, value in document.items():
        field = _field(descriptor, key)
        if field is None or field.message_type is None or value is None:
            continue
        for place, item in _elements(field, value, f"{path}.{key}" if path else key):
            try:
                json_format.ParseDict(
                    item, GetMessageClass(field.message_type)(), ignore_unknown_fields=True
                )
            except Exception:  # whatever fails, this element is the one
                if isinstance(item, dict):
                    return _locate(item, field.message_type, place) or place
                return place
    return path
