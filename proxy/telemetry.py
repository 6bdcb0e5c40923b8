"""Per-hop spans and RED metrics: a SERVER span inbound, a CLIENT span outbound.

The request path only fills a slotted :class:`Hop` with raw facts (ids drawn in
batches, two clock reads, method, path, status) and, when it finishes, appends it
to a queue and adds to the RED counters. Attributes, names and statuses derived
from those facts, encoding and export happen in batches in the
:class:`~proxy.span_export.ExportWorker` task, a slice at a time between turns
of the event loop: OTLP protobuf built directly from the records, or, when an
SDK ``SpanExporter`` is injected (tests hand in the SDK's InMemorySpanExporter),
ReadableSpans made from them. ``start``, ``flush`` and ``stop`` run on the loop.

Sampling is parent-based, always on: a caller that said "not sampled" gets no
span but still a new span id and RED counts.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from opentelemetry.sdk.trace.export import SpanExporter

from proxy.config import SidecarConfig
from proxy.metrics.red import STATUS_CLASSES, RedMetrics
from proxy.trace_context import (
    NO_CONTEXT,
    draw_ids,
    extract,
    format_b3_multi,
    format_b3_single,
)

if TYPE_CHECKING:
    from proxy.forward import Outcome

Direction = Literal["inbound", "outbound"]
Headers = list[tuple[bytes, bytes]]
SERVER, CLIENT = 2, 3  # OTLP Span.SpanKind values
MAX_QUEUED_SPANS = 16384
EXPORT_BATCH = 1024  # spans per export request; this many queued wakes the exporter
# request method -> (http.request.method, span name); any other method is "_OTHER"
_METHODS = {m.encode(): (m, m) for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
                                         "OPTIONS", "TRACE", "PATCH")}
_OTHER_METHOD = ("_OTHER", "HTTP")
_FLAGS_HEX = [b"%02x" % flags for flags in range(256)]
# ids for new spans, drawn in batches (a process forked from this one draws its own)
_fresh_ids: list[tuple[bytes, bytes]] = []
os.register_at_fork(after_in_child=_fresh_ids.clear)


class Hop:
    """One span in flight, the trace headers to send onwards and the RED labels.

    The request path records raw facts only (method, path, status, error type, clock
    readings); the span's name, its request and response attributes and its status
    are derived from them when the span is exported (:meth:`span_attributes`).
    :meth:`Telemetry.start_hop` fills every field: a class without ``__init__`` is
    made for a fraction of what a call with a dozen arguments costs.
    """

    __slots__ = ("_telemetry", "attributes", "b3", "destination", "end_ns", "error_type",
                 "events", "fixed", "flags", "kind", "method", "parent_hex", "path",
                 "route", "source", "span_hex", "start_ns", "status", "trace_hex",
                 "tracestate", "version")

    _telemetry: Telemetry | None
    attributes: dict[str, str | int]  # the caller's; the request's own are added on export
    b3: str | None
    destination: str
    end_ns: int
    error_type: str | None  # as given to finish: None when the status tells
    events: list[tuple[int, str, dict[str, str | int]]] | None
    fixed: int  # attributes the hop started with: the request's own follow them
    flags: int
    kind: int
    method: bytes
    parent_hex: bytes  # b"%016x" % the caller's span id, as it sent it; empty: a root span
    path: str
    route: str
    source: str
    span_hex: bytes  # b"%016x" % span id, as traceparent carries it
    start_ns: int
    status: int | None
    trace_hex: bytes  # b"%032x" % trace id; empty: no trace context at all
    tracestate: str | None
    version: str

    @property
    def trace_id(self) -> int:
        return int(self.trace_hex, 16) if self.trace_hex else 0

    @property
    def span_id(self) -> int:
        return int(self.span_hex, 16) if self.span_hex else 0

    @property
    def parent_span_id(self) -> int:
        return int(self.parent_hex, 16) if self.parent_hex else 0

    @property
    def name(self) -> str:
        return (_METHODS.get(self.method) or _OTHER_METHOD)[1]

    @property
    def error(self) -> bool:
        return self.effective_error_type() is not None

    def effective_error_type(self) -> str | None:
        """``error.type``: the reason given, else the status when it is an error for
        this side of the hop (5xx for a server, 4xx and 5xx for a client)."""
        if self.error_type is not None:
            return self.error_type
        status = self.status
        if status is not None and status >= (500 if self.kind == SERVER else 400):
            return str(status)
        return None

    def span_attributes(self) -> dict[str, str | int]:
        """The span's attributes in the order they were once set on the request path:
        the caller's first ones, the request's, later ones, the response's."""
        items = list(self.attributes.items())
        attributes = dict(items[:self.fixed])
        attributes["http.request.method"] = (_METHODS.get(self.method) or _OTHER_METHOD)[0]
        attributes["url.path"] = self.path
        attributes["meshlens.direction"] = "inbound" if self.kind == SERVER else "outbound"
        attributes.update(items[self.fixed:])
        if self.status is not None:
            attributes["http.response.status_code"] = self.status
        error_type = self.effective_error_type()
        if error_type is not None:
            attributes["error.type"] = error_type
        return attributes

    def trace_headers(self) -> Headers:
        """``traceparent`` (and ``tracestate``), plus B3 in the form the caller used."""
        if not self.trace_hex:
            return []
        out: Headers = [(b"traceparent", b"00-%s-%s-%s" % (
            self.trace_hex, self.span_hex, _FLAGS_HEX[self.flags & 0xFF]))]
        if self.tracestate:
            out.append((b"tracestate", self.tracestate.encode("ascii")))
        if self.b3 == "single":
            out.append((b"b3", format_b3_single(self.trace_id, self.span_id, self.flags)))
        elif self.b3 == "multi":
            out += format_b3_multi(self.trace_id, self.span_id, self.flags)
        return out

    def trace_lines(self) -> bytes:
        """:meth:`trace_headers` as header lines (each ending CRLF), ready to write: the
        usual single ``traceparent`` from the ids' hex made with them, no list between."""
        if not self.trace_hex:
            return b""
        if self.tracestate or self.b3:
            return b"".join([b"%s: %s\r\n" % pair for pair in self.trace_headers()])
        return b"traceparent: 00-%s-%s-%s\r\n" % (self.trace_hex, self.span_hex,
                                                    _FLAGS_HEX[self.flags & 0xFF])

    def set_attribute(self, key: str, value: str | int) -> None:
        self.attributes[key] = value

    def set_destination(self, service: str, route: str, version: str = "") -> None:
        """RED labels of an outbound hop once its route is known."""
        self.destination, self.route, self.version = service, route, version

    def add_event(self, name: str, attributes: dict[str, str | int] | None = None) -> None:
        """Note something that happened during the hop: ``retry``, ``ejection``,
        ``fault.delay``, ``fault.abort``, ``timeout`` ... (no-op without telemetry)."""
        telemetry = self._telemetry
        if telemetry is None or not self.flags & 0x01:
            return
        if self.events is None:
            self.events = []
        self.events.append((telemetry.clock_ns(), name, attributes or {}))

    def conclude(self, outcome: Outcome | None) -> None:
        """End the hop with what happened; None: the client went away before its answer
        (a method rather than a function over the hop: the inline forward calls it from a
        protocol callback, where a bound method costs less than a partial and a frame)."""
        if outcome is None:
            self.finish(None, "downstream_reset")
        else:
            if outcome.event is not None:
                self.add_event(*outcome.event)
            self.finish(outcome.status, outcome.error)

    def finish(self, status: int | None, error_type: str | None = None) -> None:
        """End the span with the response status, or the reason there was none."""
        telemetry, self._telemetry = self._telemetry, None
        if telemetry is None:
            return
        self.end_ns = end = telemetry.clock_ns()
        self.status, self.error_type = status, error_type
        telemetry.red.record(
            ("inbound" if self.kind == SERVER else "outbound", self.source, self.destination,
             self.route, self.version, STATUS_CLASSES.get(status, "none")),
            (end - self.start_ns) / 1e6)
        if self.flags & 0x01:
            spans = telemetry.spans
            queued = len(spans)
            if queued < MAX_QUEUED_SPANS:
                spans.append(self)
                if queued == EXPORT_BATCH - 1 and telemetry.worker is not None:
                    telemetry.worker.wake()  # a full batch: export it now
            else:
                telemetry.spans_dropped += 1


class _Untraced(Hop):
    """The hop of a request without trace context while telemetry is off: it records
    nothing and sends no trace headers, so one shared instance serves them all."""

    __slots__ = ()

    def conclude(self, outcome: Outcome | None) -> None:
        return None

    def set_attribute(self, key: str, value: str | int) -> None:
        return None

    def set_destination(self, service: str, route: str, version: str = "") -> None:
        return None

    def finish(self, status: int | None, error_type: str | None = None) -> None:
        return None


def _untraced() -> Hop:
    hop = _Untraced()
    hop._telemetry, hop.kind, hop.method, hop.path, hop.attributes, hop.fixed = \
        None, CLIENT, b"", "", {}, 0
    hop.trace_hex, hop.span_hex, hop.parent_hex, hop.flags = b"", b"", b"", 0
    hop.tracestate = hop.b3 = hop.events = hop.status = hop.error_type = None
    hop.start_ns = hop.end_ns = 0
    hop.source = hop.destination = hop.route = hop.version = ""
    return hop


UNTRACED: Hop = _untraced()


class Telemetry:
    """Spans and RED metrics for one sidecar; disabled, it still passes trace headers on."""

    def __init__(self, config: SidecarConfig, span_exporter: SpanExporter | None = None, *,
                 clock_ns: Callable[[], int] = time.time_ns, max_series: int = 1000,
                 export_interval: float = 1.0, metrics_interval: float = 10.0) -> None:
        from proxy.span_export import ExportWorker

        self._config = config
        # RED labels a hop starts with: (source, destination, version) inbound,
        # (source, destination) outbound
        self._server_labels = ("unknown", config.service, config.version)
        self._client_labels = (config.service, "unknown")
        self.clock_ns = clock_ns
        self.red = RedMetrics(max_series, clock_ns)
        self.spans: deque[Hop] = deque()
        self.spans_dropped = 0
        self.enabled = config.telemetry or span_exporter is not None
        self.worker: ExportWorker | None = None
        if self.enabled:
            self.worker = ExportWorker(self, config, span_exporter, export_interval,
                                       metrics_interval)

    async def start(self) -> None:
        """Start the export task (on the running loop)."""
        if self.worker is not None:
            await self.worker.start()

    def start_hop(self, direction: Direction, method: bytes, path: str, headers: Headers,
                  attributes: dict[str, str | int]) -> Hop:
        """Start the hop's span as a child of the incoming trace context (if valid)."""
        incoming = extract(headers) if headers else NO_CONTEXT
        owner: Telemetry | None = self
        if not self.enabled:  # no span of our own: the caller's context goes on as it is
            if not incoming.trace_hex:
                return UNTRACED
            owner, trace_hex, span_hex, parent_hex, flags = \
                None, incoming.trace_hex, incoming.span_hex, b"", incoming.flags
        else:
            fresh = _fresh_ids
            if not fresh:
                fresh += draw_ids()
            trace_hex, span_hex = fresh.pop()
            parent_hex = incoming.span_hex
            if parent_hex:
                trace_hex, flags = incoming.trace_hex, incoming.flags & 0x01
            else:
                flags = 1
        hop = Hop()
        hop._telemetry, hop.method, hop.path, hop.attributes, hop.fixed = \
            owner, method, path, attributes, len(attributes)
        hop.trace_hex, hop.span_hex, hop.parent_hex, hop.flags = \
            trace_hex, span_hex, parent_hex, flags
        hop.tracestate, hop.b3 = incoming.tracestate, incoming.b3
        hop.events = hop.status = hop.error_type = None
        hop.start_ns, hop.end_ns = self.clock_ns() if owner is not None else 0, 0
        if direction == "inbound":
            hop.kind, hop.route = SERVER, ""
            hop.source, hop.destination, hop.version = self._server_labels
        else:
            hop.kind, hop.route, hop.version = CLIENT, "", ""
            hop.source, hop.destination = self._client_labels
        return hop

    async def flush(self) -> None:
        """Export what is queued now."""
        if self.worker is not None:
            await self.worker.flush()

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        """:meth:`flush` from another thread (blocking it); False when it timed out."""
        return self.worker.flush_from_thread(timeout_millis / 1000) if self.worker else True

    async def stop(self) -> None:
        """Export what is queued and stop the export task; safe twice, ``start`` may follow."""
        if self.worker is not None:
            await self.worker.stop()

    def prometheus_text(self) -> str:
        """The admin ``/metrics`` page."""
        from proxy.metrics.prometheus import render

        worker = self.worker
        return render(self.red.snapshot(), {
            "spans_dropped_total": ("Spans dropped because the export queue was full.",
                                    self.spans_dropped),
            "export_failures_total": ("Failed OTLP export requests.",
                                      worker.failures if worker else 0),
        })
