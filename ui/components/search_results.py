"""Search results: a table of traces and a scatter of their durations over time."""

from __future__ import annotations

import html as html_text
from collections.abc import Sequence
from datetime import UTC, datetime

import plotly.graph_objects as go
from dash import dcc, html

from storage.model import TraceSummary
from ui.colors import ERROR_COLOR, OK_COLOR, service_color
from ui.formatting import format_duration, format_timestamp, short_id, trace_href

__all__ = ["duration_scatter", "results_table"]

_COLUMNS = ("Start (UTC)", "Trace", "Root", "Duration", "Spans", "Errors", "Services")


def results_table(summaries: Sequence[TraceSummary]) -> html.Div:
    """One row per trace; the trace id and root operation link to its page."""
    if not summaries:
        return html.Div(
            "No traces match these filters. Widen the time range or clear a filter.",
            className="empty",
        )
    rows = [
        html.Tr(
            className="error-row" if s.error_count else None,
            children=[
                html.Td(format_timestamp(s.start_ns), className="nowrap"),
                html.Td(dcc.Link(short_id(s.trace_id), href=trace_href(s.trace_id),
                                 className="trace-link mono", title=s.trace_id)),
                html.Td(dcc.Link(f"{s.root_service}: {s.root_operation}",
                                 href=trace_href(s.trace_id))),
                html.Td(format_duration(s.duration_ns), className="num"),
                html.Td(str(s.span_count), className="num"),
                html.Td(str(s.error_count), className="num errors" if s.error_count else "num"),
                html.Td([_service_chip(name) for name in s.services]),
            ],
        )
        for s in summaries
    ]
    return html.Div(
        className="table-wrap",
        children=html.Table(
            className="results",
            children=[
                html.Thead(html.Tr([html.Th(c) for c in _COLUMNS])),
                html.Tbody(rows),
            ],
        ),
    )


def _service_chip(name: str) -> html.Span:
    swatch = html.Span(className="swatch", style={"backgroundColor": service_color(name)})
    return html.Span([swatch, name], className="service-chip")


def duration_scatter(summaries: Sequence[TraceSummary]) -> go.Figure:
    """Duration over start time, one point per trace, errors in red.

    Points carry the trace id as `customdata`; clicking one opens the trace.
    """
    figure = go.Figure()
    groups = (
        ("error", ERROR_COLOR, [s for s in summaries if s.error_count]),
        ("ok", OK_COLOR, [s for s in summaries if not s.error_count]),
    )
    for name, color, group in groups:
        figure.add_trace(
            go.Scatter(
                name=name,
                mode="markers",
                x=[datetime.fromtimestamp(s.start_ns / 1e9, tz=UTC) for s in group],
                y=[s.duration_ns / 1e6 for s in group],
                customdata=[s.trace_id for s in group],
                hovertext=[_hover(s) for s in group],
                hoverinfo="text",
                marker={"color": color, "size": 9, "opacity": 0.85,
                        "line": {"color": "#ffffff", "width": 1}},
            )
        )
    figure.update_layout(
        height=260,
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
        font={"color": "#1d2330"},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        clickmode="event",
    )
    figure.update_xaxes(title_text="start (UTC)", gridcolor="#e4e7ec")
    figure.update_yaxes(title_text="duration (ms)", rangemode="tozero", gridcolor="#e4e7ec")
    return figure


def _hover(s: TraceSummary) -> str:
    root = html_text.escape(f"{s.root_service}: {s.root_operation}")
    return (
        f"<b>{root}</b><br>trace {html_text.escape(short_id(s.trace_id))}"
        f"<br>{format_duration(s.duration_ns)}, {s.span_count} spans, {s.error_count} errors"
        "<br>click to open"
    )
