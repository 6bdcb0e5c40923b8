"""A read-only JSON API beside the pages, for scripts, curl and end-to-end tests.

    GET /api/traces?service=&operation=&attributes=k=v k2=v2&min_duration=250ms
                   &max_duration=&status=any|error|ok|unset&time_range=1h|...|custom
                   &start=&end=&limit=20
        -> 200 {"traces": [TraceSummary fields]}, or 400 {"errors": [...]}
    GET /api/traces/<trace_id>
        -> 200 {"trace_id": ..., "spans": [SpanRecord fields]}, or 404 when unknown

Parameters read exactly like the search form (`ui.query_parsing`), so a URL
and the form that produced the same query always agree.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import flask

from ui.query_parsing import QueryError, SearchFormValues, parse_search_form
from ui.trace_reader import TraceReader

__all__ = ["json_api_blueprint"]

log = logging.getLogger(__name__)


def json_api_blueprint(reader: TraceReader, clock: Callable[[], int]) -> flask.Blueprint:
    api = flask.Blueprint("meshlens_json_api", __name__, url_prefix="/api")

    @api.get("/traces")
    def search_traces() -> flask.Response | tuple[flask.Response, int]:
        args = flask.request.args
        form = SearchFormValues(
            service=args.get("service") or None,
            operation=args.get("operation") or None,
            attributes=args.get("attributes"),
            min_duration=args.get("min_duration"),
            max_duration=args.get("max_duration"),
            status=args.get("status", "any"),
            time_range=args.get("time_range", "1h"),
            custom_start=args.get("start"),
            custom_end=args.get("end"),
            limit=args.get("limit"),
        )
        try:
            query = parse_search_form(form, clock())
        except QueryError as exc:
            return flask.jsonify({"errors": list(exc.problems)}), 400
        try:
            summaries = reader.search_traces(query)
        except Exception as exc:
            log.exception("trace search failed")
            return flask.jsonify({"errors": [f"storage error: {exc}"]}), 503
        return flask.jsonify({"traces": [dataclasses.asdict(s) for s in summaries]})

    @api.get("/traces/<trace_id>")
    def get_trace(trace_id: str) -> flask.Response | tuple[flask.Response, int]:
        trace_id = trace_id.strip().lower()
        try:
            spans = reader.get_trace(trace_id)
        except Exception as exc:
            log.exception("reading trace %s failed", trace_id)
            return flask.jsonify({"errors": [f"storage error: {exc}"]}), 503
        body = {"trace_id": trace_id, "spans": [dataclasses.asdict(s) for s in spans]}
        if not spans:
            return flask.jsonify({**body, "errors": ["trace not found"]}), 404
        return flask.jsonify(body)

    return api
