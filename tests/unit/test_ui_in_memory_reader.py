"""InMemoryTraceReader implements TraceSearchQuery's filters for real."""

from __future__ import annotations

from typing import Any

import pytest

from storage.model import SpanStatus, TraceSearchQuery
from ui import TraceReader
from ui.testing import InMemoryTraceReader, sample_trace

MS = 1_000_000
T0 = 1_735_689_600_000_000_000
OK_ID, FAILED_ID, LATER_ID = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def reader() -> InMemoryTraceReader:
    return InMemoryTraceReader(
        [
            *sample_trace(OK_ID, T0),
            *sample_trace(FAILED_ID, T0 + 1_000 * MS, failed=True),
            *sample_trace(LATER_ID, T0 + 60_000 * MS),
        ]
    )


def ids(reader: InMemoryTraceReader, **filters: Any) -> list[str]:
    return [s.trace_id for s in reader.search_traces(TraceSearchQuery(**filters))]


def test_is_a_trace_reader(reader: InMemoryTraceReader) -> None:
    assert isinstance(reader, TraceReader)


def test_most_recent_first_and_limited(reader: InMemoryTraceReader) -> None:
    assert ids(reader) == [LATER_ID, FAILED_ID, OK_ID]
    assert ids(reader, limit=2) == [LATER_ID, FAILED_ID]


def test_one_span_must_match_every_filter(reader: InMemoryTraceReader) -> None:
    assert ids(reader, status=SpanStatus.ERROR) == [FAILED_ID]
    assert ids(reader, service="payments", status=SpanStatus.ERROR) == [FAILED_ID]
    # payments failed, but no payments span is slower than 100 ms
    assert ids(reader, service="payments", min_duration_ns=100 * MS) == []
    assert ids(reader, service="frontend", min_duration_ns=120 * MS) == [
        LATER_ID, FAILED_ID, OK_ID]
    assert ids(reader, max_duration_ns=20 * MS, operation="SELECT orders") == [
        LATER_ID, FAILED_ID, OK_ID]
    assert ids(reader, operation="SELECT orders", max_duration_ns=19 * MS) == []


def test_attributes_match_span_or_resource_attributes(reader: InMemoryTraceReader) -> None:
    assert ids(reader, attributes=(("http.response.status_code", "503"),)) == [FAILED_ID]
    assert ids(reader, attributes=(("service.name", "payments"),
                                   ("http.route", "/charge"))) == [LATER_ID, FAILED_ID, OK_ID]
    assert ids(reader, attributes=(("service.name", "payments"),
                                   ("http.route", "/checkout"))) == []


def test_time_window(reader: InMemoryTraceReader) -> None:
    assert ids(reader, start_ns=T0 + 500 * MS, end_ns=T0 + 2_000 * MS) == [FAILED_ID]
    assert ids(reader, end_ns=T0 + 500 * MS) == [OK_ID]


def test_summary(reader: InMemoryTraceReader) -> None:
    [summary] = reader.search_traces(TraceSearchQuery(status=SpanStatus.ERROR))
    assert summary.start_ns == T0 + 1_000 * MS
    assert summary.duration_ns == 120 * MS
    assert (summary.root_service, summary.root_operation) == ("frontend", "GET /checkout")
    assert (summary.span_count, summary.error_count) == (5, 2)
    assert summary.services == ("checkout", "frontend", "payments")


def test_get_trace_services_operations(reader: InMemoryTraceReader) -> None:
    assert len(reader.get_trace(OK_ID)) == 5
    assert reader.get_trace("0" * 32) == []
    assert reader.services() == ["checkout", "frontend", "payments"]
    assert reader.operations("checkout") == ["POST /checkout", "SELECT orders"]
    assert "GET /checkout" in reader.operations()
    assert reader.operations("nobody") == []
