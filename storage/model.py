"""The data that crosses the storage boundary: spans in, traces and summaries out.

`SpanColumns` is the write format: one list per `otel_traces` column, filled by
the collector's decoder without building a Python object per span, and handed to
ClickHouse as a column-oriented insert. `SpanRecord` is the read format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from storage.columns import RowColumns

# Values as the OpenTelemetry Collector's ClickHouse exporter writes them, so that
# Grafana's ClickHouse data source reads our tables as they are.
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")


class SpanStatus(StrEnum):
    UNSET = "Unset"
    OK = "Ok"
    ERROR = "Error"


class SearchOrder(StrEnum):
    """How trace search ranks the traces it finds."""

    TIME = "time"  # newest matching span first
    DURATION = "duration"  # longest matching span first


@dataclass(slots=True)
class SpanColumns(RowColumns):
    """A batch of spans, column by column, in `otel_traces` column order.

    Timestamps and durations are integer nanoseconds; ids are lowercase hex.
    Nested columns (events, links) hold one list per span.
    """

    Timestamp: list[int] = field(default_factory=list)
    TraceId: list[str] = field(default_factory=list)
    SpanId: list[str] = field(default_factory=list)
    ParentSpanId: list[str] = field(default_factory=list)
    TraceState: list[str] = field(default_factory=list)
    SpanName: list[str] = field(default_factory=list)
    SpanKind: list[str] = field(default_factory=list)
    ServiceName: list[str] = field(default_factory=list)
    ResourceAttributes: list[dict[str, str]] = field(default_factory=list)
    ScopeName: list[str] = field(default_factory=list)
    ScopeVersion: list[str] = field(default_factory=list)
    SpanAttributes: list[dict[str, str]] = field(default_factory=list)
    Duration: list[int] = field(default_factory=list)
    StatusCode: list[str] = field(default_factory=list)
    StatusMessage: list[str] = field(default_factory=list)
    EventsTimestamp: list[list[int]] = field(default_factory=list)
    EventsName: list[list[str]] = field(default_factory=list)
    EventsAttributes: list[list[dict[str, str]]] = field(default_factory=list)
    LinksTraceId: list[list[str]] = field(default_factory=list)
    LinksSpanId: list[list[str]] = field(default_factory=list)
    LinksTraceState: list[list[str]] = field(default_factory=list)
    LinksAttributes: list[list[dict[str, str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.SpanId)

    def extend(self, other: SpanColumns) -> None:
        """Append every span of `other` to this batch."""
        for name in self.__slots__:
            getattr(self, name).extend(getattr(other, name))

    def append(self, span: SpanRecord) -> None:
        """Append one span given as a record (tests, replays; not the hot path)."""
        self.Timestamp.append(span.timestamp_ns)
        self.TraceId.append(span.trace_id)
        self.SpanId.append(span.span_id)
        self.ParentSpanId.append(span.parent_span_id)
        self.TraceState.append(span.trace_state)
        self.SpanName.append(span.span_name)
        self.SpanKind.append(span.span_kind)
        self.ServiceName.append(span.service_name)
        self.ResourceAttributes.append(dict(span.resource_attributes))
        self.ScopeName.append(span.scope_name)
        self.ScopeVersion.append(span.scope_version)
        self.SpanAttributes.append(dict(span.span_attributes))
        self.Duration.append(span.duration_ns)
        self.StatusCode.append(span.status_code)
        self.StatusMessage.append(span.status_message)
        self.EventsTimestamp.append([e.timestamp_ns for e in span.events])
        self.EventsName.append([e.name for e in span.events])
        self.EventsAttributes.append([dict(e.attributes) for e in span.events])
        self.LinksTraceId.append([link.trace_id for link in span.links])
        self.LinksSpanId.append([link.span_id for link in span.links])
        self.LinksTraceState.append([link.trace_state for link in span.links])
        self.LinksAttributes.append([dict(link.attributes) for link in span.links])


# Column names in ClickHouse, in SpanColumns field order.
SPAN_COLUMN_NAMES: tuple[str, ...] = tuple(
    name.replace("Events", "Events.", 1).replace("Links", "Links.", 1)
    if name.startswith(("Events", "Links"))
    else name
    for name in SpanColumns.__slots__
)


@dataclass(frozen=True, slots=True)
class SpanEvent:
    timestamp_ns: int
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    trace_state: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One row of `otel_traces`."""

    timestamp_ns: int
    trace_id: str
    span_id: str
    parent_span_id: str
    span_name: str
    span_kind: str
    service_name: str
    duration_ns: int
    status_code: str = SpanStatus.UNSET
    status_message: str = ""
    trace_state: str = ""
    resource_attributes: dict[str, str] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    span_attributes: dict[str, str] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()

    @property
    def end_ns(self) -> int:
        return self.timestamp_ns + self.duration_ns


@dataclass(frozen=True, slots=True)
class TraceSearchQuery:
    """Filters for a trace search; every field left at its default is not applied.

    A trace matches when one of its spans matches every filter given. Times are
    integer nanoseconds since the epoch; durations are nanoseconds. Patterns are
    RE2 regular expressions (ClickHouse `match`), unanchored: `^...$` for a whole value.
    """

    service: str | None = None
    operation: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # span or resource attribute key=value
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: SpanStatus | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 20
    attribute_patterns: tuple[tuple[str, str], ...] = ()  # span or resource key~regex
    version: str | None = None  # resource attribute service.version
    order_by: SearchOrder = SearchOrder.TIME


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One search result: the trace's root (or earliest) span and its extent."""

    trace_id: str
    start_ns: int
    duration_ns: int
    root_service: str
    root_operation: str
    span_count: int
    error_count: int
    services: tuple[str, ...]
