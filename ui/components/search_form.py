"""The trace search form: component ids and layout. Callbacks live in `ui.pages.search`."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from ui.query_parsing import DEFAULT_LIMIT, MAX_LIMIT, STATUS_CHOICES, TIME_RANGES

__all__ = [
    "ATTRIBUTES",
    "AUTO_REFRESH",
    "CUSTOM_END",
    "CUSTOM_RANGE",
    "CUSTOM_START",
    "LIMIT",
    "MAX_DURATION",
    "MIN_DURATION",
    "OPERATION",
    "REFRESH_INTERVAL",
    "REFRESH_INTERVAL_MS",
    "SERVICE",
    "STATUS",
    "SUBMIT",
    "TIME_RANGE",
    "search_form",
]

SERVICE = "search-service"
OPERATION = "search-operation"
ATTRIBUTES = "search-attributes"
MIN_DURATION = "search-min-duration"
MAX_DURATION = "search-max-duration"
STATUS = "search-status"
TIME_RANGE = "search-time-range"
CUSTOM_RANGE = "search-custom-range"
CUSTOM_START = "search-custom-start"
CUSTOM_END = "search-custom-end"
LIMIT = "search-limit"
SUBMIT = "search-submit"
AUTO_REFRESH = "search-auto-refresh"
REFRESH_INTERVAL = "search-refresh-interval"
REFRESH_INTERVAL_MS = 5_000

_RANGE_LABELS = {
    "5m": "Last 5 minutes",
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "custom": "Custom (UTC)",
}


def _field(label: str, control: Any, hint: str | None = None) -> html.Label:
    parts: list[Any] = [html.Span(label, className="field-label"), control]
    if hint:
        parts.append(html.Span(hint, className="field-hint"))
    return html.Label(parts, className="field")


def _text_input(component_id: str, placeholder: str) -> dcc.Input:
    # n_submit (Enter) is a search trigger; typing alone is not.
    return dcc.Input(
        id=component_id, type="text", placeholder=placeholder, autoComplete="off", n_submit=0
    )


def search_form(services: list[str]) -> html.Div:
    """The filters; defaults search the last hour for the most recent traces."""
    # A div, not a <form>: Enter must run the search callback, not reload the page.
    return html.Div(
        className="search-form",
        role="search",
        children=[
            _field(
                "Service",
                dcc.Dropdown(id=SERVICE, options=services, placeholder="any service"),
            ),
            _field(
                "Operation",
                dcc.Dropdown(id=OPERATION, options=[], placeholder="any operation"),
            ),
            _field(
                "Attributes",
                _text_input(ATTRIBUTES, "http.route=/checkout http.response.status_code=503"),
                'key=value, separated by spaces; quote values with spaces: k="a b"',
            ),
            html.Div(
                className="field-row",
                children=[
                    _field(
                        "Min duration",
                        _text_input(MIN_DURATION, "e.g. 250ms"),
                        "ms, or with a unit: 300us, 1.5s",
                    ),
                    _field(
                        "Max duration",
                        _text_input(MAX_DURATION, "e.g. 2s"),
                    ),
                ],
            ),
            html.Div(
                className="field-row",
                children=[
                    _field(
                        "Status",
                        dcc.Dropdown(
                            id=STATUS,
                            options=[{"label": s, "value": s} for s in STATUS_CHOICES],
                            value="any",
                            clearable=False,
                        ),
                    ),
                    _field(
                        "Limit",
                        dcc.Input(
                            id=LIMIT, type="number", min=1, max=MAX_LIMIT, step=1,
                            value=DEFAULT_LIMIT, n_submit=0,
                        ),
                    ),
                ],
            ),
            _field(
                "Time range",
                dcc.Dropdown(
                    id=TIME_RANGE,
                    options=[{"label": _RANGE_LABELS[r], "value": r} for r in TIME_RANGES],
                    value="1h",
                    clearable=False,
                ),
            ),
            html.Div(
                id=CUSTOM_RANGE,
                className="field-row",
                hidden=True,
                children=[
                    _field("From", _text_input(CUSTOM_START, "2025-01-31 14:00")),
                    _field("To", _text_input(CUSTOM_END, "2025-01-31 15:00")),
                ],
            ),
            html.Div(
                className="form-actions",
                children=[
                    html.Button("Find traces", id=SUBMIT, type="button", n_clicks=0,
                                className="primary"),
                    dcc.Checklist(
                        id=AUTO_REFRESH,
                        options=[{"label": " auto-refresh every 5 s", "value": "on"}],
                        value=[],
                        className="auto-refresh",
                    ),
                    dcc.Interval(id=REFRESH_INTERVAL, interval=REFRESH_INTERVAL_MS,
                                 disabled=True, n_intervals=0),
                ],
            ),
        ],
    )
