"""A trace as a waterfall: spans in tree order, bars from start offset to end.

Pure functions of the spans, so the figure is unit-tested without a browser.
Labels and hover text are HTML-escaped: plotly interprets a subset of HTML in
text, and span names and attributes come from untrusted services.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from storage.model import SpanRecord, SpanStatus
from ui.colors import ERROR_COLOR, service_color
from ui.formatting import format_duration

__all__ = ["WaterfallRow", "waterfall_figure", "waterfall_rows"]

_NS_PER_MS = 1_000_000
_INDENT = "\u00a0\u00a0\u00a0"  # plotly drops leading ordinary spaces in tick labels
_MAX_LABEL = 60
_ROW_HEIGHT_PX = 26


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    span: SpanRecord
    depth: int
    offset_ns: int  # span start minus trace start


def waterfall_rows(spans: Sequence[SpanRecord]) -> list[WaterfallRow]:
    """Spans depth-first, siblings by start time.

    Spans whose parent is missing (not yet arrived, or dropped) are roots, and
    spans caught in a parent cycle are appended as roots, so that every span
    given appears exactly once.
    """
    if not spans:
        return []
    trace_start = min(span.timestamp_ns for span in spans)
    span_ids = {span.span_id for span in spans}
    children: dict[str, list[int]] = {}
    roots: list[int] = []
    for index, span in enumerate(spans):
        if span.parent_span_id and span.parent_span_id in span_ids:
            children.setdefault(span.parent_span_id, []).append(index)
        else:
            roots.append(index)

    def by_start(index: int) -> tuple[int, str]:
        return spans[index].timestamp_ns, spans[index].span_id

    rows: list[WaterfallRow] = []
    visited: set[int] = set()
    expanded: set[str] = set()  # a span id repeated in bad data is expanded once

    def walk(start: list[int]) -> None:
        stack = [(index, 0) for index in sorted(start, key=by_start, reverse=True)]
        while stack:
            index, depth = stack.pop()
            if index in visited:
                continue
            visited.add(index)
            span = spans[index]
            rows.append(WaterfallRow(span, depth, span.timestamp_ns - trace_start))
            if span.span_id in expanded:
                continue
            expanded.add(span.span_id)
            kids = sorted(children.get(span.span_id, ()), key=by_start, reverse=True)
            stack.extend((kid, depth + 1) for kid in kids)

    walk(roots)
    while len(visited) < len(spans):  # only parent cycles are left
        walk([min((i for i in range(len(spans)) if i not in visited), key=by_start)])
    return rows


def _label(row: WaterfallRow) -> str:
    text = f"{row.span.service_name}: {row.span.span_name}"
    if len(text) > _MAX_LABEL:
        text = text[: _MAX_LABEL - 1] + "…"
    marker = "⚠ " if row.span.status_code == SpanStatus.ERROR else ""
    return _INDENT * row.depth + marker + html.escape(text)


def _hover(row: WaterfallRow) -> str:
    span = row.span
    lines = [
        f"<b>{html.escape(span.span_name)}</b>",
        f"service: {html.escape(span.service_name)}",
        f"start: +{format_duration(row.offset_ns)}",
        f"duration: {format_duration(span.duration_ns)}",
        f"status: {html.escape(span.status_code)}",
    ]
    if span.status_message:
        lines.append(f"message: {html.escape(span.status_message[:200])}")
    return "<br>".join(lines)


def waterfall_figure(spans: Sequence[SpanRecord]) -> go.Figure:
    """One horizontal bar per span, one plotly trace per service.

    Bars carry `customdata = [span_id, row]`, which a click reports back.
    Error spans have a red outline and a ⚠ before their label.
    """
    rows = waterfall_rows(spans)
    figure = go.Figure()
    services: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        services.setdefault(row.span.service_name, []).append(position)
    for service, positions in services.items():
        service_rows = [rows[p] for p in positions]
        is_error = [r.span.status_code == SpanStatus.ERROR for r in service_rows]
        figure.add_trace(
            go.Bar(
                name=html.escape(service),
                orientation="h",
                y=positions,
                base=[r.offset_ns / _NS_PER_MS for r in service_rows],
                x=[r.span.duration_ns / _NS_PER_MS for r in service_rows],
                customdata=[
                    [r.span.span_id, p] for r, p in zip(service_rows, positions, strict=True)
                ],
                hovertext=[_hover(r) for r in service_rows],
                hoverinfo="text",
                marker={
                    "color": service_color(service),
                    "line": {
                        "color": [ERROR_COLOR if e else service_color(service) for e in is_error],
                        "width": [3 if e else 0 for e in is_error],
                    },
                },
            )
        )
    figure.update_layout(
        barmode="overlay",
        bargap=0.25,
        height=max(220, _ROW_HEIGHT_PX * len(rows) + 90),
        margin={"l": 10, "r": 20, "t": 30, "b": 40},
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
        font={"color": "#1d2330"},
        # the trace header shows the service colours; plotly's legend would copy
        # the first bar's error outline onto a service's swatch
        showlegend=False,
        hoverlabel={"align": "left"},
        clickmode="event",
    )
    figure.update_xaxes(
        title_text="ms since trace start", rangemode="tozero", gridcolor="#e4e7ec", zeroline=False
    )
    figure.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(rows))),
        ticktext=[_label(row) for row in rows],
        autorange="reversed",
        automargin=True,
        showgrid=False,
        ticklabelstandoff=8,  # a gap between the labels and bars that start at 0 ms
    )
    return figure
