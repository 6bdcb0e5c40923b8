"""AnyValue attributes flattened to `dict[str, str]`, the `Map(String, String)` columns.

Strings stay as they are, bools become "true"/"false", ints and doubles `str()`,
bytes base64, arrays and kvlists compact JSON. The protobuf and the OTLP/JSON
decoders share these rules so that one span stores the same strings whichever way
it arrived.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.translate.errors import OtlpDecodeError, shorten

# Nested arrays/kvlists deeper than this are refused rather than risking recursion
# limits; real attributes are one or two levels deep.
MAX_VALUE_DEPTH = 32
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _finite_or_text(number: float) -> float | str:
    # JSON has no NaN/Infinity; proto3's JSON mapping spells them as strings.
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


# --- protobuf AnyValue ------------------------------------------------------------


def flatten_attributes(key_values: Iterable[KeyValue]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value  # most attributes are non-empty strings: one lookup
        if text or value.WhichOneof("value") == "string_value":
            flat[kv.key] = text
        else:
            flat[kv.key] = _text(value, value.WhichOneof("value"))
    return flat


def any_value_text(value: AnyValue) -> str:
    """One AnyValue as the text an attribute of that value gets (a log record's body)."""
    kind = value.WhichOneof("value")
    return value.string_value if kind == "string_value" else _text(value, kind)


def _text(value: AnyValue, kind: str | None) -> str:
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return str(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return ""
    return compact_json(_native(value, kind))


def _native(value: AnyValue, kind: str | None) -> Any:
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return _finite_or_text(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        return [_native(v, v.WhichOneof("value")) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {
            kv.key: _native(kv.value, kv.value.WhichOneof("value"))
            for kv in value.kvlist_value.values
        }
    return None


# --- OTLP/JSON AnyValue -----------------------------------------------------------


def flatten_json_attributes(items: object, field: str, where: str) -> dict[str, str]:
    """Flatten an OTLP/JSON `attributes` list; `field` and `where` place errors."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise OtlpDecodeError(f"{field} must be a list, got {shorten(items)} in {where}")
    flat: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise OtlpDecodeError(f"{field}[{i}] must be an object, got {shorten(item)} in {where}")
        key = item.get("key", "")
        if not isinstance(key, str):
            raise OtlpDecodeError(
                f"{field}[{i}].key must be a string, got {shorten(key)} in {where}"
            )
        value = item.get("value")
        if isinstance(value, dict):
            text = value.get("stringValue")
            if type(text) is str:  # the common case, kept cheap
                flat[key] = text
                continue
        flat[key] = _json_text(value, f"{field}[{i}].value", where)
    return flat


def _json_text(value: object, field: str, where: str) -> str:
    native = json_any_value(value, field, where, 0)
    if native is None:
        return ""
    if isinstance(native, str):
        return native
    if isinstance(native, bool):
        return "true" if native else "false"
    if isinstance(native, int | float):
        return str(native)
    return compact_json(_finite_tree(native))


def _finite_tree(native: Any) -> Any:
    if isinstance(native, float):
        return _finite_or_text(native)
    if isinstance(native, list):
        return [_finite_tree(v) for v in native]
    if isinstance(native, dict):
        return {k: _finite_tree(v) for k, v in native.items()}
    return native


def json_any_value(value: object, field: str, where: str, depth: int) -> Any:
    """An OTLP/JSON AnyValue as a Python value (bytes as their base64 text)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise OtlpDecodeError(f"{field} must be an object, got {shorten(value)} in {where}")
    if depth > MAX_VALUE_DEPTH:
        raise OtlpDecodeError(f"{field} nests deeper than {MAX_VALUE_DEPTH} levels in {where}")
    for kind, raw in value.items():
        if kind == "stringValue":
            if not isinstance(raw, str):
                raise _bad(field, kind, "a string", raw, where)
            return raw
        if kind == "boolValue":
            if not isinstance(raw, bool):
                raise _bad(field, kind, "true or false", raw, where)
            return raw
        if kind == "intValue":
            return _json_int64(raw, f"{field}.{kind}", where)
        if kind == "doubleValue":
            return _json_double(raw, f"{field}.{kind}", where)
        if kind == "bytesValue":
            return _json_bytes(raw, f"{field}.{kind}", where)
        if kind == "arrayValue":
            values = _json_values(raw, f"{field}.{kind}", where)
            return [
                json_any_value(v, f"{field}.{kind}.values[{i}]", where, depth + 1)
                for i, v in enumerate(values)
            ]
        if kind == "kvlistValue":
            values = _json_values(raw, f"{field}.{kind}", where)
            result: dict[str, Any] = {}
            for i, kv in enumerate(values):
                place = f"{field}.{kind}.values[{i}]"
                if not isinstance(kv, dict) or not isinstance(kv.get("key", ""), str):
                    raise OtlpDecodeError(
                        f"{place} must be an object with a string key, got {shorten(kv)} in {where}"
                    )
                result[kv.get("key", "")] = json_any_value(
                    kv.get("value"), f"{place}.value", where, depth + 1
                )
            return result
        # Unknown keys are ignored, as OTLP/JSON requires of receivers.
    return None


def _bad(field: str, kind: str, expected: str, raw: object, where: str) -> OtlpDecodeError:
    return OtlpDecodeError(f"{field}.{kind} must be {expected}, got {shorten(raw)} in {where}")


def _json_values(raw: object, field: str, where: str) -> list[object]:
    if not isinstance(raw, dict):
        raise OtlpDecodeError(f"{field} must be an object, got {shorten(raw)} in {where}")
    values = raw.get("values", [])
    if not isinstance(values, list):
        raise OtlpDecodeError(f"{field}.values must be a list, got {shorten(values)} in {where}")
    return values


def _json_int64(raw: object, field: str, where: str) -> int:
    number = parse_json_integer(raw)
    if number is None or not _INT64_MIN <= number <= _INT64_MAX:
        raise OtlpDecodeError(
            f"{field} must be a 64-bit integer (number or decimal string), "
            f"got {shorten(raw)} in {where}"
        )
    return number


def parse_json_integer(raw: object) -> int | None:
    """OTLP/JSON writes 64-bit integers as decimal strings; numbers are accepted too."""
    if type(raw) is int:
        return raw
    if isinstance(raw, str):
        digits = raw[1:] if raw.startswith("-") else raw
        if digits.isascii() and digits.isdigit():
            return int(raw)
        return None
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None


def _json_double(raw: object, field: str, where: str) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        if raw in _NON_FINITE:
            return _NON_FINITE[raw]
        try:
            return float(raw)
        except ValueError:
            pass
    raise OtlpDecodeError(f"{field} must be a number, got {shorten(raw)} in {where}")


def _json_bytes(raw: object, field: str, where: str) -> str:
    if isinstance(raw, str):
        try:
            # Normalise (url-safe alphabet, missing padding) to standard base64.
            decoded = base64.b64decode(
                raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True
            )
            return base64.b64encode(decoded).decode("ascii")
        except (binascii.Error, ValueError):
            pass
    raise OtlpDecodeError(f"{field} must be base64 text, got {shorten(raw)} in {where}")
