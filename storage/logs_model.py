"""Log records as written to and read from `otel_logs`.

`LogColumns` is the write format (one list per column, as the OpenTelemetry
Collector's ClickHouse exporter names them); `LogRecord` is one row read back.
Times are integer nanoseconds since the epoch; trace and span ids lowercase hex,
"" when the record has no trace context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.columns import RowColumns


@dataclass(slots=True)
class LogColumns(RowColumns):
    Timestamp: list[int] = field(default_factory=list)
    TraceId: list[str] = field(default_factory=list)
    SpanId: list[str] = field(default_factory=list)
    TraceFlags: list[int] = field(default_factory=list)
    SeverityText: list[str] = field(default_factory=list)
    SeverityNumber: list[int] = field(default_factory=list)
    ServiceName: list[str] = field(default_factory=list)
    Body: list[str] = field(default_factory=list)
    ResourceSchemaUrl: list[str] = field(default_factory=list)
    ResourceAttributes: list[dict[str, str]] = field(default_factory=list)
    ScopeSchemaUrl: list[str] = field(default_factory=list)
    ScopeName: list[str] = field(default_factory=list)
    ScopeVersion: list[str] = field(default_factory=list)
    ScopeAttributes: list[dict[str, str]] = field(default_factory=list)
    LogAttributes: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One row of `otel_logs`."""

    timestamp_ns: int
    service_name: str
    body: str
    severity_text: str = ""
    severity_number: int = 0
    trace_id: str = ""
    span_id: str = ""
    trace_flags: int = 0
    log_attributes: dict[str, str] = field(default_factory=dict)
    resource_attributes: dict[str, str] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
