"""The trace page (`/trace/<id>`): header, waterfall, and the clicked span's details."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from storage.model import SpanRecord
from ui.colors import service_color
from ui.components.span_details import span_details, span_details_placeholder
from ui.components.waterfall import waterfall_figure
from ui.formatting import format_duration, format_timestamp
from ui.trace_reader import TraceReader
from ui.trace_summary import summarize_trace

__all__ = ["SPAN_DETAILS", "TRACE_ID", "WATERFALL", "layout", "not_found", "register_callbacks",
           "validation_view"]

log = logging.getLogger(__name__)

WATERFALL = "trace-waterfall"
SPAN_DETAILS = "trace-span-details"
TRACE_ID = "trace-id"


def layout(reader: TraceReader, trace_id: str) -> html.Div:
    try:
        spans = reader.get_trace(trace_id)
    except Exception as exc:  # say storage failed rather than "not found"
        log.exception("reading trace %s failed", trace_id)
        return _message_page(f"Could not read trace {trace_id}: storage error: {exc}")
    if not spans:
        return not_found(trace_id)
    return html.Div(
        className="trace-page",
        children=[
            dcc.Store(id=TRACE_ID, data=trace_id),
            _header(trace_id, spans),
            html.Div(
                className="trace-body",
                children=[
                    dcc.Graph(
                        id=WATERFALL,
                        figure=waterfall_figure(spans),
                        config={"displaylogo": False},
                        className="panel waterfall",
                    ),
                    html.Aside(
                        id=SPAN_DETAILS,
                        className="panel details",
                        children=span_details_placeholder(),
                    ),
                ],
            ),
        ],
    )


def validation_view() -> html.Div:
    """The components the callbacks use, for Dash to check them against."""
    return html.Div([dcc.Store(id=TRACE_ID), dcc.Graph(id=WATERFALL), html.Aside(id=SPAN_DETAILS)])


def not_found(trace_id: str) -> html.Div:
    return _message_page(
        f"Trace {trace_id} not found. It may not have arrived yet, or it is older "
        "than the retention period."
    )


def _message_page(text: str) -> html.Div:
    return html.Div(
        className="trace-page",
        children=[
            html.P(text, className="message error", role="alert"),
            dcc.Link("← Back to trace search", href="/"),
        ],
    )


def _header(trace_id: str, spans: list[SpanRecord]) -> html.Header:
    summary = summarize_trace(spans)
    facts = [
        ("Root", f"{summary.root_service}: {summary.root_operation}"),
        ("Start", f"{format_timestamp(summary.start_ns)} UTC"),
        ("Duration", format_duration(summary.duration_ns)),
        ("Spans", str(summary.span_count)),
        ("Errors", str(summary.error_count)),
    ]
    return html.Header(
        className="panel trace-header",
        children=[
            html.H2(["Trace ", html.Code(trace_id, className="trace-id")]),
            html.Dl(
                className="facts",
                children=[
                    item
                    for term, value in facts
                    for item in (html.Dt(term), html.Dd(value))
                ],
            ),
            html.Div(
                className="services",
                children=[
                    html.Span(
                        [html.Span(className="swatch",
                                   style={"backgroundColor": service_color(name)}), name],
                        className="service-chip",
                    )
                    for name in summary.services
                ],
            ),
        ],
    )


def register_callbacks(app: dash.Dash, reader: TraceReader) -> None:
    @app.callback(
        Output(SPAN_DETAILS, "children"),
        Input(WATERFALL, "clickData"),
        State(TRACE_ID, "data"),
        prevent_initial_call=True,
    )
    def show_clicked_span(click: dict[str, Any] | None, trace_id: str | None) -> Any:
        points = (click or {}).get("points") or []
        customdata = points[0].get("customdata") if points else None
        if not trace_id or not isinstance(customdata, list) or not customdata:
            return dash.no_update
        span_id = customdata[0]
        try:
            spans = reader.get_trace(trace_id)
        except Exception as exc:
            log.exception("reading trace %s failed", trace_id)
            return html.P(f"Storage error: {exc}", className="message error")
        span = next((s for s in spans if s.span_id == span_id), None)
        if span is None:
            return html.P(f"Span {span_id} is no longer in trace {trace_id}.",
                          className="message error")
        return span_details(span, min(s.timestamp_ns for s in spans))
