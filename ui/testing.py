"""Test doubles that ship with the UI (STYLE 9): a real in-memory `TraceReader`.

`InMemoryTraceReader` implements the search filters for real over a list of
`SpanRecord`s, with the semantics of `TraceSearchQuery`: a trace matches when
one of its spans matches every filter given. `sample_trace` builds a small,
realistic trace (frontend -> checkout -> payments) for tests and screenshots.
`DashCallbackClient` calls a served app's callbacks over HTTP the way the Dash
renderer does, for tests that need no browser.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from storage.model import SpanEvent, SpanRecord, SpanStatus, TraceSearchQuery, TraceSummary
from ui.trace_summary import summarize_trace

__all__ = ["DashCallbackClient", "InMemoryTraceReader", "sample_trace"]

_MS = 1_000_000


class InMemoryTraceReader:
    """A thread-safe `TraceReader` over spans kept in a list."""

    def __init__(self, spans: Iterable[SpanRecord] = ()) -> None:
        self._lock = threading.Lock()
        self._spans: list[SpanRecord] = list(spans)

    def add(self, spans: Iterable[SpanRecord]) -> None:
        with self._lock:
            self._spans.extend(spans)

    def search_traces(self, q: TraceSearchQuery) -> list[TraceSummary]:
        with self._lock:
            spans = list(self._spans)
        by_trace: dict[str, list[SpanRecord]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        matching = [
            summarize_trace(trace_spans)
            for trace_spans in by_trace.values()
            if any(_span_matches(span, q) for span in trace_spans)
        ]
        matching.sort(key=lambda s: (s.start_ns, s.trace_id), reverse=True)
        return matching[: q.limit]

    def get_trace(self, trace_id: str) -> list[SpanRecord]:
        with self._lock:
            return [span for span in self._spans if span.trace_id == trace_id]

    def services(self) -> list[str]:
        with self._lock:
            return sorted({span.service_name for span in self._spans})

    def operations(self, service: str | None = None) -> list[str]:
        with self._lock:
            return sorted(
                {
                    span.span_name
                    for span in self._spans
                    if service is None or span.service_name == service
                }
            )


def _span_matches(span: SpanRecord, q: TraceSearchQuery) -> bool:
    if q.service is not None and span.service_name != q.service:
        return False
    if q.operation is not None and span.span_name != q.operation:
        return False
    for key, value in q.attributes:
        if span.span_attributes.get(key, span.resource_attributes.get(key)) != value:
            return False
    if q.min_duration_ns is not None and span.duration_ns < q.min_duration_ns:
        return False
    if q.max_duration_ns is not None and span.duration_ns > q.max_duration_ns:
        return False
    if q.status is not None and span.status_code != q.status:
        return False
    if q.start_ns is not None and span.timestamp_ns < q.start_ns:
        return False
    return q.end_ns is None or span.timestamp_ns <= q.end_ns


def sample_trace(trace_id: str, start_ns: int, *, failed: bool = False) -> list[SpanRecord]:
    """A checkout request across three services; `failed` makes payments fail.

    Span ids are derived from the trace id, so several sample traces can share
    one reader. Tree (offsets in ms):
        frontend GET /checkout          0..120
          frontend POST checkout        5..115  (client)
            checkout POST /checkout     10..110
              checkout SELECT orders    15..35
              payments POST /charge     40..100 (error when failed)
    """
    prefix = trace_id[:8]

    def sid(n: int) -> str:
        return f"{prefix}{n:08x}"

    def span(
        n: int,
        parent: int | None,
        service: str,
        name: str,
        kind: str,
        offsets_ms: tuple[int, int],
        attributes: dict[str, str],
        status: SpanStatus = SpanStatus.UNSET,
        message: str = "",
        events: tuple[SpanEvent, ...] = (),
    ) -> SpanRecord:
        return SpanRecord(
            timestamp_ns=start_ns + offsets_ms[0] * _MS,
            trace_id=trace_id,
            span_id=sid(n),
            parent_span_id="" if parent is None else sid(parent),
            span_name=name,
            span_kind=kind,
            service_name=service,
            duration_ns=(offsets_ms[1] - offsets_ms[0]) * _MS,
            status_code=status,
            status_message=message,
            resource_attributes={"service.name": service, "service.version": "v1"},
            span_attributes=attributes,
            events=events,
        )

    status = SpanStatus.ERROR if failed else SpanStatus.OK
    http_status = "503" if failed else "200"
    message = "card processor unavailable" if failed else ""
    retry = SpanEvent(start_ns + 60 * _MS, "retry", {"attempt": "2"})
    return [
        span(1, None, "frontend", "GET /checkout", "Server", (0, 120),
             {"http.request.method": "GET", "http.route": "/checkout",
              "http.response.status_code": "502" if failed else "200"}, status),
        span(2, 1, "frontend", "POST checkout", "Client", (5, 115),
             {"server.address": "checkout"}),
        span(3, 2, "checkout", "POST /checkout", "Server", (10, 110),
             {"http.route": "/checkout"}),
        span(4, 3, "checkout", "SELECT orders", "Client", (15, 35),
             {"db.system": "clickhouse"}),
        span(5, 3, "payments", "POST /charge", "Server", (40, 100),
             {"http.route": "/charge", "http.response.status_code": http_status},
             status, message, (retry,)),
    ]  # fmt: skip


class DashCallbackClient:
    """Calls the callbacks of a Dash app served at `base_url`, as the browser does.

    It reads `/_dash-dependencies`, finds the callback writing an output, and
    POSTs `/_dash-update-component` with the payload dash-renderer builds
    (`output`, `outputs`, `inputs`, `state`, `changedPropIds`). Values are keyed
    "component-id.property"; the ones not given are sent as None, as for a
    component that has no value yet.
    """

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._dependencies: list[dict[str, Any]] | None = None

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.base_url + path, timeout=self.timeout_s) as response:
            return response.status, response.read().decode("utf-8")

    def dependencies(self) -> list[dict[str, Any]]:
        if self._dependencies is None:
            self._dependencies = json.loads(self.get("/_dash-dependencies")[1])
        return self._dependencies

    def call(
        self,
        output: str,
        values: Mapping[str, Any] | None = None,
        changed: Iterable[str] = (),
    ) -> dict[str, dict[str, Any]]:
        """Run the callback whose outputs include `output` ("id.property").

        Returns {component id: {property: new value}}; outputs the callback left
        alone (`dash.no_update`) are absent.
        """
        values = dict(values or {})
        dependency = self._find(output)

        def with_values(deps: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {**dep, "value": values.get(f"{dep['id']}.{dep['property']}")} for dep in deps
            ]

        outputs: Any = [
            {"id": key.rsplit(".", 1)[0], "property": key.rsplit(".", 1)[1]}
            for key in _output_keys(dependency["output"])
        ]
        if not dependency["output"].startswith(".."):
            outputs = outputs[0]
        body = {
            "output": dependency["output"],
            "outputs": outputs,
            "inputs": with_values(dependency["inputs"]),
            "state": with_values(dependency["state"]),
            "changedPropIds": list(changed),
        }
        request = urllib.request.Request(
            self.base_url + "/_dash-update-component",
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if response.status == 204:  # every output was no_update
                return {}
            result: dict[str, dict[str, Any]] = json.loads(response.read())["response"]
            return result

    def _find(self, output: str) -> dict[str, Any]:
        for dependency in self.dependencies():
            if output in _output_keys(dependency["output"]):
                return dependency
        raise LookupError(f"no callback writes {output}")


def _output_keys(output: str) -> list[str]:
    """"..a.children...b.figure.." -> ["a.children", "b.figure"]; "a.children" -> itself."""
    if output.startswith(".."):
        return output[2:-2].split("...")
    return [output]
