"""Logs decoding: records with their trace context to `otel_logs` columns, from the
SDK's protobuf and from OTLP/JSON; invalid records left out and named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from collector.translate import OtlpDecodeError, decode_logs_json, decode_logs_protobuf
from tests.sdk_telemetry import column_rows as rows
from tests.sdk_telemetry import sdk_logs

LOGS_JSON = (Path(__file__).parent / "otlp_data" / "logs.json").read_bytes()
RECORDS = "resourceLogs[0].scopeLogs[0].logRecords"


def test_sdk_records_with_trace_context_from_protobuf() -> None:
    sent = sdk_logs("checkout")
    decoded = decode_logs_protobuf(encode_logs(sent.records).SerializeToString())
    trace_id, span_id = sent.trace_id, sent.span_id
    assert decoded.rejected == 0
    declined, started = rows(decoded.batch)
    assert declined == declined | {
        "TraceId": trace_id,
        "SpanId": span_id,
        "SeverityText": "ERROR",
        "SeverityNumber": 17,
        "ServiceName": "checkout",
        "Body": "card declined",
        "ScopeName": "tests.logs",
        "ScopeVersion": "1.0",
        "LogAttributes": {"attempt": "2"},
    }
    assert declined["TraceFlags"] & 1 == 1  # sampled
    assert declined["Timestamp"] > 0  # no time set: the observed time stands in
    assert started["TraceId"] == started["SpanId"] == ""
    assert started["Timestamp"] == 5
    assert started["Body"] == '{"event":"started"}'  # a map body as compact JSON


def test_records_from_json() -> None:
    decoded = decode_logs_json(LOGS_JSON)
    assert decoded.rejected == 0
    first, second = rows(decoded.batch)
    assert first == {
        "Timestamp": 1544712660300000000,
        "TraceId": "5b8efff798038103d269b633813fc60c",
        "SpanId": "eee19b7ec3c1b174",
        "TraceFlags": 1,
        "SeverityText": "Information",
        "SeverityNumber": 10,
        "ServiceName": "my.service",
        "Body": "Example log record",
        "ResourceSchemaUrl": "",
        "ResourceAttributes": {"service.name": "my.service"},
        "ScopeSchemaUrl": "",
        "ScopeName": "my.library",
        "ScopeVersion": "1.0.0",
        "ScopeAttributes": {},
        "LogAttributes": {"string.attribute": "some string", "int.attribute": "10"},
    }
    assert second["Timestamp"] == 1544712660400000000  # observed time only
    assert second["Body"] == '{"event":"oops"}'
    assert second["TraceId"] == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"traceId": "5b8efff798038103"},
            f"traceId must be 16 bytes, got 8 bytes ('5b8efff798038103') in {RECORDS}[0]",
        ),
        ({"spanId": "0000000000000000"}, f"spanId must not be all zeros in {RECORDS}[0]"),
        ({"severityNumber": 30}, f"severityNumber must be 0..24, got 30 in {RECORDS}[0]"),
    ],
    ids=["short-trace-id", "zero-span-id", "severity-out-of-range"],
)
def test_invalid_records_are_left_out_and_named(change: dict[str, Any], message: str) -> None:
    document = json.loads(LOGS_JSON)
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0].update(change)
    decoded = decode_logs_json(json.dumps(document))
    assert decoded.rejected == 1
    assert decoded.rejections.first == message
    assert decoded.batch.Body == ['{"event":"oops"}']  # the other record is kept


def test_unreadable_json_refuses_the_request_naming_the_path() -> None:
    document = json.loads(LOGS_JSON)
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["observedTimeUnixNano"] = "soon"
    with pytest.raises(OtlpDecodeError) as error:
        decode_logs_json(json.dumps(document))
    assert str(error.value) == (
        f"observedTimeUnixNano: invalid literal for int() with base 10: 'soon' in {RECORDS}[1]"
    )
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["spanId"] = "not hex"
    with pytest.raises(OtlpDecodeError, match=r"spanId must be 16 hex characters, got 'not hex'"):
        decode_logs_json(json.dumps(document))
