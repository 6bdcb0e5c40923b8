"""The trace search page (`/`): filters, a results table, a duration scatter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from storage.model import TraceSummary
from ui.components import search_form as form
from ui.components.search_results import duration_scatter, results_table
from ui.formatting import trace_href
from ui.query_parsing import QueryError, SearchFormValues, parse_search_form
from ui.routes import LOCATION
from ui.trace_reader import TraceReader

__all__ = [
    "RESULTS",
    "SCATTER",
    "SEARCH_MESSAGE",
    "SearchOutcome",
    "layout",
    "register_callbacks",
    "run_search",
    "search_view",
]

log = logging.getLogger(__name__)

RESULTS = "search-results"
SCATTER = "search-scatter"
SEARCH_MESSAGE = "search-message"


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    summaries: tuple[TraceSummary, ...] | None  # None: keep what is shown
    message: str
    is_error: bool = False


def run_search(reader: TraceReader, values: SearchFormValues, now_ns: int) -> SearchOutcome:
    """Parse the form and query the reader; mistakes and storage failures become messages."""
    try:
        query = parse_search_form(values, now_ns)
    except QueryError as exc:
        return SearchOutcome(None, "Cannot search: " + "; ".join(exc.problems), is_error=True)
    try:
        found = reader.search_traces(query)
    except Exception as exc:  # the page must say storage failed, not go blank
        log.exception("trace search failed")
        return SearchOutcome(None, f"Storage error: {exc}", is_error=True)
    summaries = tuple(sorted(found, key=lambda s: s.start_ns, reverse=True))
    more = " (the limit; narrow the filters to see others)" if len(summaries) >= query.limit else ""
    noun = "trace" if len(summaries) == 1 else "traces"
    return SearchOutcome(summaries, f"{len(summaries)} {noun}{more}, most recent first.")


def layout(reader: TraceReader) -> html.Div:
    try:
        services = reader.services()
    except Exception:  # searching still works without the dropdown's choices
        log.exception("listing services failed")
        services = []
    return search_view(services)


def search_view(services: list[str]) -> html.Div:
    return html.Div(
        className="search-page",
        children=[
            html.Aside(className="panel filters", children=[
                html.H2("Find traces"), form.search_form(services)]),
            html.Section(
                className="results-column",
                children=[
                    html.Div(id=SEARCH_MESSAGE, className="message", role="status"),
                    dcc.Graph(id=SCATTER, figure=duration_scatter(()),
                              config={"displaylogo": False}, className="panel"),
                    html.Div(id=RESULTS, className="panel"),
                ],
            ),
        ],
    )


def register_callbacks(app: dash.Dash, reader: TraceReader, clock: Callable[[], int]) -> None:
    @app.callback(
        output={
            "results": Output(RESULTS, "children"),
            "figure": Output(SCATTER, "figure"),
            "message": Output(SEARCH_MESSAGE, "children"),
            "message_class": Output(SEARCH_MESSAGE, "className"),
        },
        inputs={
            "submit": Input(form.SUBMIT, "n_clicks"),
            "tick": Input(form.REFRESH_INTERVAL, "n_intervals"),
            "service": Input(form.SERVICE, "value"),
            "operation": Input(form.OPERATION, "value"),
            "status": Input(form.STATUS, "value"),
            "time_range": Input(form.TIME_RANGE, "value"),
            "enter": [Input(field, "n_submit") for field in (
                form.ATTRIBUTES, form.MIN_DURATION, form.MAX_DURATION, form.LIMIT,
                form.CUSTOM_START, form.CUSTOM_END)],
        },
        state={
            "attributes": State(form.ATTRIBUTES, "value"),
            "min_duration": State(form.MIN_DURATION, "value"),
            "max_duration": State(form.MAX_DURATION, "value"),
            "limit": State(form.LIMIT, "value"),
            "custom_start": State(form.CUSTOM_START, "value"),
            "custom_end": State(form.CUSTOM_END, "value"),
        },
    )
    def search(
        submit: int | None, tick: int | None, enter: list[int | None], **values: Any
    ) -> dict[str, Any]:
        outcome = run_search(reader, SearchFormValues(**values), clock())
        message_class = "message error" if outcome.is_error else "message"
        if outcome.summaries is None:
            return {"results": dash.no_update, "figure": dash.no_update,
                    "message": outcome.message, "message_class": message_class}
        return {
            "results": results_table(outcome.summaries),
            "figure": duration_scatter(outcome.summaries),
            "message": outcome.message,
            "message_class": message_class,
        }

    @app.callback(
        Output(form.OPERATION, "options"),
        Output(form.OPERATION, "value"),
        Input(form.SERVICE, "value"),
        State(form.OPERATION, "value"),
    )
    def operations_of_service(service: str | None, current: str | None) -> tuple[Any, Any]:
        try:
            operations = reader.operations(service or None)
        except Exception:
            log.exception("listing operations failed")
            operations = []
        return operations, current if current in operations else None

    @app.callback(Output(form.CUSTOM_RANGE, "hidden"), Input(form.TIME_RANGE, "value"))
    def show_custom_range(time_range: str | None) -> bool:
        return time_range != "custom"

    @app.callback(Output(form.REFRESH_INTERVAL, "disabled"), Input(form.AUTO_REFRESH, "value"))
    def toggle_auto_refresh(auto: list[str] | None) -> bool:
        return "on" not in (auto or [])

    @app.callback(
        Output(LOCATION, "pathname"),
        Input(SCATTER, "clickData"),
        prevent_initial_call=True,
    )
    def open_clicked_trace(click: dict[str, Any] | None) -> Any:
        points = (click or {}).get("points") or []
        trace_id = points[0].get("customdata") if points else None
        if not isinstance(trace_id, str):
            return dash.no_update
        return trace_href(trace_id)
