"""HTML rendered on the server into the index page, for curl, tests and no-JS browsers.

Dash pages are drawn by JavaScript; this puts a plain summary of the page inside
<noscript>, plus a page title. Everything from spans is escaped: services report
whatever names and attributes they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from ui.components.waterfall import waterfall_rows
from ui.formatting import format_duration, format_timestamp, short_id, trace_href
from ui.query_parsing import SearchFormValues, parse_search_form
from ui.routes import NotFoundPage, Route, SearchPage, TracePage
from ui.trace_reader import TraceReader
from ui.trace_summary import summarize_trace

__all__ = ["ServerRenderedPage", "render_page"]

log = logging.getLogger(__name__)

_MAX_SPANS_LISTED = 500


@dataclass(frozen=True, slots=True)
class ServerRenderedPage:
    title: str  # plain text; the caller escapes it
    body: str  # HTML, already escaped


def render_page(route: Route, reader: TraceReader, clock: Callable[[], int]) -> ServerRenderedPage:
    match route:
        case TracePage(trace_id):
            return _trace(reader, trace_id)
        case SearchPage():
            return _search(reader, clock)
        case NotFoundPage(path):
            return ServerRenderedPage(
                "Page not found · MeshLens", _noscript(f"<p>No page at {escape(path)}.</p>")
            )


def _noscript(inner: str) -> str:
    return f'<noscript><div class="server-rendered" id="server-rendered">{inner}</div></noscript>'


def _trace(reader: TraceReader, trace_id: str) -> ServerRenderedPage:
    title = f"Trace {short_id(trace_id)} · MeshLens"
    try:
        spans = reader.get_trace(trace_id)
    except Exception as exc:
        log.exception("reading trace %s failed", trace_id)
        return ServerRenderedPage(title, _noscript(f"<p>Storage error: {escape(str(exc))}</p>"))
    if not spans:
        return ServerRenderedPage(
            title, _noscript(f"<p>Trace <code>{escape(trace_id)}</code> not found.</p>")
        )
    summary = summarize_trace(spans)
    rows = waterfall_rows(spans)
    items = "".join(
        f'<li style="margin-left:{row.depth * 1.5}em">'
        f"{escape(row.span.service_name)}: {escape(row.span.span_name)}"
        f" &middot; +{format_duration(row.offset_ns)}"
        f" &middot; {format_duration(row.span.duration_ns)}"
        f" &middot; {escape(row.span.status_code)}</li>"
        for row in rows[:_MAX_SPANS_LISTED]
    )
    hidden = len(rows) - _MAX_SPANS_LISTED
    more = f"<p>{hidden} more spans not listed.</p>" if hidden > 0 else ""
    body = (
        f"<h1>Trace <code>{escape(trace_id)}</code></h1>"
        f"<p>Root: {escape(summary.root_service)}: {escape(summary.root_operation)}"
        f" &middot; started {format_timestamp(summary.start_ns)} UTC"
        f" &middot; {format_duration(summary.duration_ns)}"
        f" &middot; {summary.span_count} spans &middot; {summary.error_count} errors</p>"
        f"<p>Services: {', '.join(escape(name) for name in summary.services)}</p>"
        f'<ul class="spans">{items}</ul>{more}'
    )
    return ServerRenderedPage(title, _noscript(body))


def _search(reader: TraceReader, clock: Callable[[], int]) -> ServerRenderedPage:
    title = "Traces · MeshLens"
    query = parse_search_form(SearchFormValues(), clock())
    try:
        summaries = reader.search_traces(query)
    except Exception as exc:
        log.exception("trace search failed")
        return ServerRenderedPage(title, _noscript(f"<p>Storage error: {escape(str(exc))}</p>"))
    items = "".join(
        f'<li><a href="{escape(trace_href(s.trace_id))}">{escape(s.trace_id)}</a>'
        f" {format_timestamp(s.start_ns)} UTC"
        f" &middot; {escape(s.root_service)}: {escape(s.root_operation)}"
        f" &middot; {format_duration(s.duration_ns)} &middot; {s.error_count} errors</li>"
        for s in summaries
    )
    body = (
        "<p>MeshLens needs JavaScript for its search form and charts.</p>"
        f"<h1>Most recent traces in the last hour</h1><ul>{items or '<li>none</li>'}</ul>"
    )
    return ServerRenderedPage(title, _noscript(body))
