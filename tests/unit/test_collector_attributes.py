"""AnyValue flattening: the same strings from protobuf and from OTLP/JSON."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collector.translate.attributes import flatten_attributes, flatten_json_attributes

CASES: list[tuple[str, AnyValue, dict[str, object], str]] = [
    ("string", AnyValue(string_value="héllo"), {"stringValue": "héllo"}, "héllo"),
    ("empty string", AnyValue(string_value=""), {"stringValue": ""}, ""),
    ("true", AnyValue(bool_value=True), {"boolValue": True}, "true"),
    ("false", AnyValue(bool_value=False), {"boolValue": False}, "false"),
    ("int", AnyValue(int_value=-(2**63)), {"intValue": str(-(2**63))}, str(-(2**63))),
    ("zero int", AnyValue(int_value=0), {"intValue": 0}, "0"),
    ("double", AnyValue(double_value=0.1), {"doubleValue": 0.1}, "0.1"),
    ("whole double", AnyValue(double_value=3.0), {"doubleValue": 3}, "3.0"),
    ("nan", AnyValue(double_value=math.nan), {"doubleValue": "NaN"}, "nan"),
    ("bytes", AnyValue(bytes_value=b"\xfb\xff"), {"bytesValue": "+/8="}, "+/8="),
    ("url-safe bytes", AnyValue(bytes_value=b"\xfb\xff"), {"bytesValue": "-_8"}, "+/8="),
    ("no value", AnyValue(), {}, ""),
    (
        "array",
        AnyValue(
            array_value=ArrayValue(
                values=[
                    AnyValue(string_value="a"),
                    AnyValue(int_value=2),
                    AnyValue(double_value=math.inf),
                    AnyValue(),
                    AnyValue(array_value=ArrayValue(values=[AnyValue(bool_value=True)])),
                ]
            )
        ),
        {
            "arrayValue": {
                "values": [
                    {"stringValue": "a"},
                    {"intValue": "2"},
                    {"doubleValue": "Infinity"},
                    {},
                    {"arrayValue": {"values": [{"boolValue": True}]}},
                ]
            }
        },
        '["a",2,"Infinity",null,[true]]',
    ),
    (
        "kvlist",
        AnyValue(
            kvlist_value=KeyValueList(
                values=[
                    KeyValue(key="é", value=AnyValue(string_value="ü")),
                    KeyValue(key="b", value=AnyValue(bytes_value=b"\x00")),
                ]
            )
        ),
        {
            "kvlistValue": {
                "values": [
                    {"key": "é", "value": {"stringValue": "ü"}},
                    {"key": "b", "value": {"bytesValue": "AA=="}},
                ]
            }
        },
        '{"é":"ü","b":"AA=="}',
    ),
    ("empty array", AnyValue(array_value=ArrayValue()), {"arrayValue": {}}, "[]"),
]


@pytest.mark.parametrize(
    ("value", "json_value", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_flattening(value: AnyValue, json_value: dict[str, object], expected: str) -> None:
    assert flatten_attributes([KeyValue(key="k", value=value)]) == {"k": expected}
    assert flatten_json_attributes([{"key": "k", "value": json_value}], "attributes", "x") == {
        "k": expected
    }


def test_later_duplicate_key_wins() -> None:
    kvs = [
        KeyValue(key="k", value=AnyValue(string_value="first")),
        KeyValue(key="k", value=AnyValue(string_value="second")),
    ]
    assert flatten_attributes(kvs) == {"k": "second"}


def test_json_nesting_is_bounded() -> None:
    value: dict[str, object] = {"stringValue": "leaf"}
    for _ in range(40):
        value = {"arrayValue": {"values": [value]}}
    with pytest.raises(ValueError, match="nests deeper than 32 levels in span"):
        flatten_json_attributes([{"key": "deep", "value": value}], "attributes", "span")
