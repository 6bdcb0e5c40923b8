"""Per-hop spans and RED metrics: a SERVER span inbound, a CLIENT span outbound.

The request path only fills a slotted :class:`Hop` (ids from ``random``, two
clock reads, an attribute dict) and, when it finishes, appends it to a queue and
adds to the RED counters. Encoding and export happen in batches in the
:class:`~proxy.span_export.ExportWorker` task, a slice at a time between turns
of the event loop: OTLP protobuf built directly from the records, or, when an
SDK ``SpanExporter`` is injected (tests hand in the SDK's InMemorySpanExporter),
ReadableSpans made from them. ``start``, ``flush`` and ``stop`` run on the loop.

Sampling is parent-based, always on: a caller that said "not sampled" gets no
span but still a new span id and RED counts.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from opentelemetry.sdk.trace.export import SpanExporter

from proxy.config import SidecarConfig
from proxy.metrics.red import STATUS_CLASSES, RedMetrics
from proxy.trace_context import (
    NO_CONTEXT,
    extract,
    format_b3_multi,
    format_b3_single,
    format_traceparent,
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
_random_bits = random.getrandbits


class Hop:
    """One span in flight, the trace headers to send onwards and the RED labels."""

    __slots__ = ("_telemetry", "attributes", "b3", "destination", "end_ns", "error",
                 "events", "flags", "kind", "name", "parent_span_id", "recorded", "route",
                 "source", "span_id", "start_ns", "trace_id", "tracestate", "version")

    def __init__(self, telemetry: Telemetry | None, kind: int, name: str, trace_id: int,
                 span_id: int, parent_span_id: int, flags: int, tracestate: str | None,
                 b3: str | None, attributes: dict[str, str | int]) -> None:
        self._telemetry = telemetry
        self.kind = kind
        self.name = name
        self.trace_id, self.span_id, self.parent_span_id = trace_id, span_id, parent_span_id
        self.flags = flags
        self.tracestate = tracestate
        self.b3 = b3
        self.attributes = attributes
        self.events: list[tuple[int, str, dict[str, str | int]]] | None = None
        self.recorded = telemetry is not None and bool(flags & 0x01)
        self.start_ns = telemetry.clock_ns() if telemetry is not None else 0
        self.end_ns = 0
        self.error = False
        self.source = self.destination = self.route = self.version = ""

    @property
    def traceparent(self) -> str | None:
        return format_traceparent(self.trace_id, self.span_id, self.flags) \
            if self.trace_id else None

    def trace_headers(self) -> Headers:
        """``traceparent`` (and ``tracestate``), plus B3 in the form the caller used."""
        if not self.trace_id:
            return []
        out: Headers = [(b"traceparent", b"00-%032x-%016x-%02x" % (
            self.trace_id, self.span_id, self.flags & 0xFF))]
        if self.tracestate:
            out.append((b"tracestate", self.tracestate.encode("ascii")))
        if self.b3 == "single":
            out.append((b"b3", format_b3_single(self.trace_id, self.span_id, self.flags)))
        elif self.b3 == "multi":
            out += format_b3_multi(self.trace_id, self.span_id, self.flags)
        return out

    def trace_lines(self) -> bytes:
        """:meth:`trace_headers` as header lines (each ending CRLF), ready to write: the
        usual single ``traceparent`` formatted once (as :func:`format_traceparent`, in
        bytes), with no list in between."""
        if not self.trace_id:
            return b""
        if self.tracestate or self.b3:
            return b"".join([b"%s: %s\r\n" % pair for pair in self.trace_headers()])
        return b"traceparent: 00-%032x-%016x-%02x\r\n" % (
            self.trace_id, self.span_id, self.flags & 0xFF)

    def set_attribute(self, key: str, value: str | int) -> None:
        self.attributes[key] = value

    def set_destination(self, service: str, route: str, version: str = "") -> None:
        """RED labels of an outbound hop once its route is known."""
        self.destination, self.route, self.version = service, route, version

    def add_event(self, name: str, attributes: dict[str, str | int] | None = None) -> None:
        """Note something that happened during the hop: ``retry``, ``ejection``,
        ``fault.delay``, ``fault.abort``, ``timeout`` ... (no-op without telemetry)."""
        telemetry = self._telemetry
        if telemetry is None or not self.recorded:
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
        attributes = self.attributes
        if status is not None:
            attributes["http.response.status_code"] = status
        threshold = 500 if self.kind == SERVER else 400
        if error_type is None and status is not None and status >= threshold:
            error_type = str(status)
        if error_type is not None:
            attributes["error.type"] = error_type
            self.error = True
        telemetry.red.record(
            ("inbound" if self.kind == SERVER else "outbound", self.source, self.destination,
             self.route, self.version, STATUS_CLASSES.get(status, "none")),
            (end - self.start_ns) / 1e6)
        if self.recorded:
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


UNTRACED: Hop = _Untraced(None, CLIENT, "", 0, 0, 0, 0, None, None, {})


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
        kind = SERVER if direction == "inbound" else CLIENT
        incoming = extract(headers) if headers else NO_CONTEXT
        parent = incoming.parent
        if not self.enabled:  # no span of our own: the caller's context goes on as it is
            if parent is None:
                return UNTRACED
            return Hop(None, kind, "", parent.trace_id, parent.span_id, 0, parent.flags,
                       incoming.tracestate, incoming.b3, attributes)
        known, name = _METHODS.get(method) or _OTHER_METHOD
        attributes["http.request.method"] = known
        attributes["url.path"] = path
        attributes["meshlens.direction"] = direction
        if parent is None:
            trace_id, parent_id, flags = _random_bits(128) or 1, 0, 1
        else:
            trace_id, parent_id, flags = parent.trace_id, parent.span_id, parent.flags & 0x01
        hop = Hop(self, kind, name, trace_id, _random_bits(64) or 1, parent_id, flags,
                  incoming.tracestate, incoming.b3, attributes)
        if kind == SERVER:
            hop.source, hop.destination, hop.version = self._server_labels
        else:
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
