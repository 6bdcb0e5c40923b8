"""The panel beside the waterfall: everything recorded about one span."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import dcc, html

from storage.model import SpanRecord, SpanStatus
from ui.colors import service_color
from ui.formatting import format_duration, format_offset, format_timestamp, trace_href

__all__ = ["span_details", "span_details_placeholder"]


def span_details_placeholder() -> html.Div:
    return html.Div("Click a span in the waterfall to see its details.", className="hint")


def span_details(span: SpanRecord, trace_start_ns: int) -> html.Div:
    status_class = "status-error" if span.status_code == SpanStatus.ERROR else "status"
    status_text = span.status_code + (f": {span.status_message}" if span.status_message else "")
    return html.Div(
        className="span-details",
        children=[
            html.H3(
                [html.Span(className="swatch",
                           style={"backgroundColor": service_color(span.service_name)}),
                 f"{span.service_name}: {span.span_name}"],
            ),
            _definitions(
                [
                    ("Status", html.Span(status_text, className=status_class)),
                    ("Kind", span.span_kind),
                    ("Start", f"{format_offset(span.timestamp_ns - trace_start_ns)} "
                              f"({format_timestamp(span.timestamp_ns)} UTC)"),
                    ("Duration", format_duration(span.duration_ns)),
                    ("Span id", html.Code(span.span_id)),
                    ("Parent", html.Code(span.parent_span_id or "none (root)")),
                    ("Scope", f"{span.scope_name} {span.scope_version}".strip() or "-"),
                ]
            ),
            html.H4("Span attributes"),
            _attributes(span.span_attributes),
            html.H4("Resource attributes"),
            _attributes(span.resource_attributes),
            html.H4(f"Events ({len(span.events)})"),
            _events(span),
            *_links(span),
        ],
    )


def _definitions(items: list[tuple[str, Any]]) -> html.Dl:
    children: list[Any] = []
    for term, description in items:
        children += [html.Dt(term), html.Dd(description)]
    return html.Dl(children, className="definitions")


def _attributes(attributes: Mapping[str, str]) -> html.Div | html.Table:
    if not attributes:
        return html.Div("none", className="hint")
    return html.Table(
        className="attributes",
        children=html.Tbody(
            [
                html.Tr(
                    [html.Th(key, className="mono"), html.Td(attributes[key], className="mono")]
                )
                for key in sorted(attributes)
            ]
        ),
    )


def _events(span: SpanRecord) -> html.Div | html.Ol:
    if not span.events:
        return html.Div("none", className="hint")
    return html.Ol(
        className="events",
        children=[
            html.Li(
                [
                    html.Span(event.name, className="event-name"),
                    html.Span(f" {format_offset(event.timestamp_ns - span.timestamp_ns)}"
                              " after span start", className="hint"),
                    _attributes(event.attributes) if event.attributes else None,
                ]
            )
            for event in sorted(span.events, key=lambda e: e.timestamp_ns)
        ],
    )


def _links(span: SpanRecord) -> list[Any]:
    if not span.links:
        return []
    return [
        html.H4(f"Links ({len(span.links)})"),
        html.Ul(
            [
                html.Li([dcc.Link(link.trace_id, href=trace_href(link.trace_id), className="mono"),
                         html.Span(f" span {link.span_id}", className="mono hint")])
                for link in span.links
            ]
        ),
    ]
