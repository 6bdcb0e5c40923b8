"""The Dash app: the page shell, the router, and the server-rendered index."""

from __future__ import annotations

import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import dash
import flask
from dash import Input, Output, dcc, html

from ui.json_api import json_api_blueprint
from ui.pages import search, trace
from ui.routes import LOCATION, NotFoundPage, SearchPage, TracePage, route_for
from ui.server_rendered import render_page
from ui.trace_reader import TraceReader

__all__ = ["PAGE_CONTENT", "MeshLensDash", "create_app"]

PAGE_CONTENT = "page-content"
_TITLE_SINK = "page-title-sink"
_ASSETS = Path(__file__).parent / "assets"

# Sets the tab title when the path changes without a page load; mirrors
# server_rendered's titles. document.title takes text, so nothing is injected.
_SET_TITLE_JS = """
function (pathname) {
    var match = /^\\/trace\\/([^\\/]+)/.exec(pathname || "");
    var id = "";
    if (match) {
        try { id = decodeURIComponent(match[1]); } catch (e) { id = match[1]; }
    }
    document.title = match ? "Trace " + id.toLowerCase().slice(0, 8) + " · MeshLens"
                           : "Traces · MeshLens";
    return pathname;
}
"""


class MeshLensDash(dash.Dash):
    """A Dash app whose index page carries a server-rendered summary and title."""

    def __init__(self, reader: TraceReader, clock: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reader = reader
        self.clock = clock

    def interpolate_index(
        self,
        metas: str = "",
        title: str = "",
        css: str = "",
        config: str = "",
        scripts: str = "",
        app_entry: str = "",
        favicon: str = "",
        renderer: str = "",
    ) -> str:
        prefix = self.config.requests_pathname_prefix.rstrip("/")
        path = flask.request.path
        if prefix and path.startswith(prefix):
            path = path[len(prefix):]
        page = render_page(route_for(path), self.reader, self.clock)
        return str(
            super().interpolate_index(
                metas=metas,
                title=escape(page.title),
                css=css,
                config=config,
                scripts=scripts,
                app_entry=page.body + app_entry,
                favicon=favicon,
                renderer=renderer,
            )
        )


def create_app(reader: TraceReader, *, clock: Callable[[], int] = time.time_ns) -> dash.Dash:
    """The MeshLens UI over `reader`; `clock` (ns since the epoch) anchors time ranges.

    Pages: `/` trace search, `/trace/<id>` one trace; `/api/traces...` the same as
    JSON (`ui.json_api`). Serve it with `ui.serve_ui`, or mount `app.server` (a
    Flask app) in any WSGI server.
    """
    app = MeshLensDash(
        reader,
        clock,
        name=__name__,
        server=flask.Flask(__name__),
        assets_folder=str(_ASSETS),
        title="MeshLens",
        update_title=None,
        serve_locally=True,
    )
    shell = html.Div(
        className="shell",
        children=[
            dcc.Location(id=LOCATION, refresh="callback-nav"),
            dcc.Store(id=_TITLE_SINK),
            html.Header(
                className="topbar",
                children=[
                    dcc.Link("MeshLens", href="/", className="brand"),
                    html.Nav([dcc.Link("Traces", href="/")]),
                ],
            ),
            html.Main(id=PAGE_CONTENT),
        ],
    )
    app.layout = shell
    # Pages are swapped into PAGE_CONTENT, so Dash checks callbacks against all of them.
    validation = html.Div([shell, search.search_view([]), trace.validation_view()])
    app.validation_layout = validation  # type: ignore[assignment]  # dash types it as None

    @app.callback(Output(PAGE_CONTENT, "children"), Input(LOCATION, "pathname"))
    def render_page_content(pathname: str | None) -> Any:
        match route_for(unquote(pathname or "/")):
            case SearchPage():
                return search.layout(reader)
            case TracePage(trace_id):
                return trace.layout(reader, trace_id)
            case NotFoundPage(path):
                return html.Div(
                    [html.P(f"No page at {path}.", className="message error"),
                     dcc.Link("← Back to trace search", href="/")]
                )

    app.clientside_callback(_SET_TITLE_JS, Output(_TITLE_SINK, "data"), Input(LOCATION, "pathname"))
    search.register_callbacks(app, reader, clock)
    trace.register_callbacks(app, reader)
    app.server.register_blueprint(json_api_blueprint(reader, clock))
    return app
