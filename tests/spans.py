"""Building spans for tests: `make_span` with defaults for every field not under test."""

from __future__ import annotations

import itertools
import os

from storage.model import SpanColumns, SpanEvent, SpanLink, SpanRecord, SpanStatus

# A fixed, recent instant (2025-01-01T00:00:00Z): partitions by day stay few.
BASE_NS = 1_735_689_600_000_000_000
MS = 1_000_000

_span_counter = itertools.count(1)


def new_trace_id() -> str:
    """A random 32-hex trace id, so tests sharing one store do not see each other's traces."""
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def make_span(
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    parent_span_id: str = "",
    service_name: str = "frontend",
    span_name: str = "GET /",
    span_kind: str = "Server",
    timestamp_ns: int | None = None,
    duration_ns: int = 10 * MS,
    status_code: str = SpanStatus.UNSET,
    status_message: str = "",
    span_attributes: dict[str, str] | None = None,
    resource_attributes: dict[str, str] | None = None,
    events: tuple[SpanEvent, ...] = (),
    links: tuple[SpanLink, ...] = (),
    scope_name: str = "meshlens.tests",
    scope_version: str = "0.1.0",
    trace_state: str = "",
) -> SpanRecord:
    """A SpanRecord; `service.name` is added to the resource attributes like an SDK does."""
    resource = {"service.name": service_name}
    resource.update(resource_attributes or {})
    return SpanRecord(
        timestamp_ns=BASE_NS + next(_span_counter) * MS if timestamp_ns is None else timestamp_ns,
        trace_id=trace_id or new_trace_id(),
        span_id=span_id or new_span_id(),
        parent_span_id=parent_span_id,
        span_name=span_name,
        span_kind=span_kind,
        service_name=service_name,
        duration_ns=duration_ns,
        status_code=status_code,
        status_message=status_message,
        trace_state=trace_state,
        resource_attributes=resource,
        scope_name=scope_name,
        scope_version=scope_version,
        span_attributes=dict(span_attributes or {}),
        events=events,
        links=links,
    )


def to_columns(*spans: SpanRecord) -> SpanColumns:
    """The spans as one write batch."""
    batch = SpanColumns()
    for span in spans:
        batch.append(span)
    return batch
