"""Decode an OTLP logs request (protobuf, or OTLP/JSON read into protobuf) into `LogColumns`.

Each log record becomes one row of `otel_logs`; the body is stored as text (a
string as it is, other values as an attribute of that value would be). A record
whose time is unset takes its observed time, as the Collector's exporter does.
A record with an invalid trace context (an id of the wrong length) or severity
is left out and counted: partial success.
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector.translate.attributes import any_value_text, flatten_attributes
from collector.translate.errors import parse_protobuf
from collector.translate.json_to_proto import parse_json_request
from collector.translate.scopes import each_scope
from collector.translate.validation import Decoded, Rejections, optional_id_problem
from storage.logs_model import LogColumns

MAX_SEVERITY = 24  # FATAL4, the highest SeverityNumber OpenTelemetry defines
_TRACE_FLAGS = 0xFF  # the low byte of LogRecord.flags: W3C trace flags


def decode_logs_protobuf(payload: bytes) -> Decoded[LogColumns]:
    """Parse a serialized `ExportLogsServiceRequest`; its valid records and the rejected."""
    return decode_logs_request(parse_protobuf(ExportLogsServiceRequest(), payload))


def decode_logs_json(payload: bytes | str) -> Decoded[LogColumns]:
    """Parse an OTLP/JSON logs export body; its valid records and the rejected."""
    return decode_logs_request(parse_json_request(payload, ExportLogsServiceRequest()))


def decode_logs_request(request: ExportLogsServiceRequest) -> Decoded[LogColumns]:
    columns = LogColumns()
    rejections = Rejections()
    for origin, scope_logs in each_scope(request.resource_logs, "Logs"):
        for i, record in enumerate(scope_logs.log_records):
            if problem := _problem(record, f"{origin.path}.logRecords[{i}]"):
                rejections.add(problem)
                continue
            columns.Timestamp.append(record.time_unix_nano or record.observed_time_unix_nano)
            columns.TraceId.append(record.trace_id.hex())
            columns.SpanId.append(record.span_id.hex())
            columns.TraceFlags.append(record.flags & _TRACE_FLAGS)
            columns.SeverityText.append(record.severity_text)
            columns.SeverityNumber.append(record.severity_number)
            columns.ServiceName.append(origin.service)
            columns.Body.append(any_value_text(record.body))
            columns.ResourceSchemaUrl.append(origin.resource_schema_url)
            columns.ResourceAttributes.append(origin.resource)
            columns.ScopeSchemaUrl.append(origin.scope_schema_url)
            columns.ScopeName.append(origin.scope_name)
            columns.ScopeVersion.append(origin.scope_version)
            columns.ScopeAttributes.append(origin.scope_attributes)
            columns.LogAttributes.append(flatten_attributes(record.attributes))
    return Decoded(columns, rejections)


def _problem(record: LogRecord, where: str) -> str:
    """What makes `record` unstorable, or ""."""
    problems = [
        optional_id_problem("traceId", record.trace_id, 16, where),
        optional_id_problem("spanId", record.span_id, 8, where),
    ]
    if not 0 <= record.severity_number <= MAX_SEVERITY:
        problems.append(
            f"severityNumber must be 0..{MAX_SEVERITY}, got {record.severity_number} in {where}"
        )
    return "; ".join(p for p in problems if p)
