"""The waterfall figure from a known span tree: order, depth, offsets, colors, errors."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from storage.model import SpanRecord, SpanStatus
from ui.colors import ERROR_COLOR, SERVICE_PALETTE, service_color
from ui.components.waterfall import waterfall_figure, waterfall_rows

MS = 1_000_000
T0 = 1_735_689_600_000_000_000


def span(
    span_id: str,
    parent: str,
    service: str,
    start_ms: int,
    duration_ms: int,
    name: str | None = None,
    status: str = SpanStatus.UNSET,
) -> SpanRecord:
    return SpanRecord(
        timestamp_ns=T0 + start_ms * MS,
        trace_id="t" * 32,
        span_id=span_id,
        parent_span_id=parent,
        span_name=name or f"op-{span_id}",
        span_kind="Server",
        service_name=service,
        duration_ns=duration_ms * MS,
        status_code=status,
    )


# root(0..100) -> a(10..40) -> a1(15..20)
#              -> b(50..90, error) ; given shuffled, children out of start order.
TREE = [
    span("b", "root", "billing", 50, 40, status=SpanStatus.ERROR),
    span("a1", "a", "db", 15, 5),
    span("root", "", "gateway", 0, 100),
    span("a", "root", "auth", 10, 30),
]


def bars(figure: go.Figure) -> dict[str, dict[str, Any]]:
    """span id -> the bar's row, base, length, color and outline."""
    found: dict[str, dict[str, Any]] = {}
    for trace in figure.data:
        line = trace.marker.line
        for i, (span_id, row) in enumerate(trace.customdata):
            found[span_id] = {
                "row": row,
                "y": trace.y[i],
                "base": trace.base[i],
                "x": trace.x[i],
                "color": trace.marker.color,
                "outline": (line.color[i], line.width[i]),
                "service": trace.name,
            }
    return found


def test_rows_are_depth_first_with_siblings_by_start_time() -> None:
    rows = waterfall_rows(TREE)
    assert [(r.span.span_id, r.depth) for r in rows] == [
        ("root", 0),
        ("a", 1),
        ("a1", 2),
        ("b", 1),
    ]
    assert [r.offset_ns // MS for r in rows] == [0, 10, 15, 50]


def test_figure_places_each_span_on_its_row_from_start_offset_to_end() -> None:
    found = bars(waterfall_figure(TREE))
    assert {k: (v["y"], v["base"], v["x"]) for k, v in found.items()} == {
        "root": (0, 0.0, 100.0),
        "a": (1, 10.0, 30.0),
        "a1": (2, 15.0, 5.0),
        "b": (3, 50.0, 40.0),
    }
    assert all(v["row"] == v["y"] for v in found.values())


def test_tick_labels_are_indented_by_depth_and_rows_read_top_down() -> None:
    figure = waterfall_figure(TREE)
    yaxis = figure.layout.yaxis
    assert list(yaxis.tickvals) == [0, 1, 2, 3]
    labels = list(yaxis.ticktext)
    assert labels[0] == "gateway: op-root"
    assert labels[1] == "\u00a0" * 3 + "auth: op-a"
    assert labels[2] == "\u00a0" * 6 + "db: op-a1"
    assert labels[3] == "\u00a0" * 3 + "⚠ billing: op-b"
    assert yaxis.autorange == "reversed"


def test_colors_are_per_service_and_stable_and_errors_are_outlined() -> None:
    found = bars(waterfall_figure(TREE))
    for span_id, service in (("root", "gateway"), ("a", "auth"), ("a1", "db"), ("b", "billing")):
        assert found[span_id]["color"] == service_color(service)
        assert found[span_id]["service"] == service
    assert found["b"]["outline"] == (ERROR_COLOR, 3)
    assert found["a"]["outline"][1] == 0
    # Stable: the same name always gets the same palette color, in any trace.
    assert service_color("gateway") == service_color("gateway")
    assert service_color("gateway") in SERVICE_PALETTE
    assert ERROR_COLOR not in SERVICE_PALETTE


def test_one_plotly_trace_per_service() -> None:
    figure = waterfall_figure(TREE)
    assert sorted(trace.name for trace in figure.data) == ["auth", "billing", "db", "gateway"]


def test_orphans_become_roots_and_cycles_do_not_lose_spans() -> None:
    spans = [
        span("late-root", "", "gateway", 5, 10),
        span("orphan", "missing-parent", "worker", 1, 2),
        span("x", "y", "loop", 20, 1),
        span("y", "x", "loop", 21, 1),
    ]
    rows = waterfall_rows(spans)
    assert [(r.span.span_id, r.depth) for r in rows] == [
        ("orphan", 0),
        ("late-root", 0),
        ("x", 0),
        ("y", 1),
    ]
    assert waterfall_rows([]) == []
    assert len(waterfall_figure([]).data) == 0


def test_untrusted_names_are_escaped_in_labels_and_hover() -> None:
    evil = span("e", "", "<img src=x onerror=alert(1)>", 0, 1, name="<b>op</b>")
    figure = waterfall_figure([evil])
    label = figure.layout.yaxis.ticktext[0]
    assert "<img" not in label and "&lt;img" in label
    hover = figure.data[0].hovertext[0]
    assert "<img" not in hover and "&lt;b&gt;op&lt;/b&gt;" in hover
    assert "<img" not in figure.data[0].name
