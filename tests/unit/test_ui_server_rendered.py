"""The server-rendered part of the index: titles, summaries, and escaping."""

from __future__ import annotations

from storage.model import SpanRecord
from ui.formatting import format_duration, format_offset, format_timestamp, trace_href
from ui.routes import NotFoundPage, SearchPage, TracePage, route_for
from ui.server_rendered import render_page
from ui.testing import InMemoryTraceReader, sample_trace

T0 = 1_735_689_600_000_000_000
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def clock() -> int:
    return T0 + 60 * 1_000_000_000


def test_routes() -> None:
    assert route_for("/") == SearchPage()
    assert route_for("") == SearchPage()
    assert route_for(f"/trace/{TRACE_ID}") == TracePage(TRACE_ID)
    assert route_for(f"/trace/{TRACE_ID.upper()}/") == TracePage(TRACE_ID)
    assert route_for("/trace/") == NotFoundPage("/trace/")
    assert route_for("/trace/a/b") == NotFoundPage("/trace/a/b")
    assert route_for("/nope") == NotFoundPage("/nope")


def test_trace_page_names_the_trace_and_every_service() -> None:
    reader = InMemoryTraceReader(sample_trace(TRACE_ID, T0, failed=True))
    page = render_page(TracePage(TRACE_ID), reader, clock)
    assert page.title == "Trace 0af76519 · MeshLens"
    assert page.body.startswith("<noscript>")
    assert TRACE_ID in page.body
    for service in ("frontend", "checkout", "payments"):
        assert service in page.body
    assert "2 errors" in page.body


def test_unknown_trace_says_not_found() -> None:
    page = render_page(TracePage("f" * 32), InMemoryTraceReader(), clock)
    assert "not found" in page.body
    assert page.title == "Trace ffffffff · MeshLens"


def test_span_data_and_paths_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    span = SpanRecord(
        timestamp_ns=T0, trace_id=TRACE_ID, span_id="1" * 16, parent_span_id="",
        span_name=evil, span_kind="Server", service_name=evil, duration_ns=1,
    )
    reader = InMemoryTraceReader([span])
    for page in (
        render_page(TracePage(TRACE_ID), reader, clock),
        render_page(SearchPage(), reader, clock),
        render_page(NotFoundPage("/<script>"), reader, clock),
        render_page(TracePage(evil), reader, clock),
    ):
        assert "<script" not in page.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render_page(
        TracePage(TRACE_ID), reader, clock).body


def test_search_page_lists_recent_traces_with_links() -> None:
    reader = InMemoryTraceReader(sample_trace(TRACE_ID, T0))
    page = render_page(SearchPage(), reader, clock)
    assert f'href="/trace/{TRACE_ID}"' in page.body
    assert page.title == "Traces · MeshLens"


def test_formatting() -> None:
    assert format_duration(0) == "0 ms"
    assert format_duration(999) == "999 ns"
    assert format_duration(850_000) == "850 µs"
    assert format_duration(12_345_678) == "12.3 ms"
    assert format_duration(4_560_000_000) == "4.56 s"
    assert format_offset(-850_000) == "-850 µs"
    assert format_offset(5_000_000) == "+5.00 ms"
    assert format_timestamp(T0 + 123_456_789) == "2025-01-01 00:00:00.123"
    assert trace_href("a/b?c") == "/trace/a%2Fb%3Fc"
