"""Per-hop spans: a SERVER span for inbound, a CLIENT span for outbound.

The OpenTelemetry SDK records them and a BatchSpanProcessor exports them over
OTLP/HTTP off the request path. Each sidecar owns its TracerProvider (never the
global one) so several sidecars can share a process in tests. The exporter is
injectable: tests hand in the SDK's InMemorySpanExporter.
"""

from __future__ import annotations

from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, Status, StatusCode, TraceFlags, TraceState

from proxy.config import SidecarConfig
from proxy.trace_context import clean_tracestate, format_traceparent, parse_traceparent

Direction = Literal["inbound", "outbound"]
EXPORT_DELAY_MS = 1000
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                            "TRACE", "PATCH"})


class Hop:
    """One span in flight and the trace headers to send onwards."""

    __slots__ = ("_kind", "span", "traceparent", "tracestate")

    def __init__(self, span: trace.Span | None, kind: SpanKind, traceparent: str | None,
                 tracestate: str | None) -> None:
        self.span = span
        self._kind = kind
        self.traceparent = traceparent
        self.tracestate = tracestate

    def set_attribute(self, key: str, value: str | int) -> None:
        if self.span is not None:
            self.span.set_attribute(key, value)

    def finish(self, status: int | None, error_type: str | None = None) -> None:
        """End the span with the response status, or the reason there was none."""
        span = self.span
        if span is None:
            return
        self.span = None
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        threshold = 500 if self._kind is SpanKind.SERVER else 400
        if error_type is None and status is not None and status >= threshold:
            error_type = str(status)
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR))
        span.end()


class Telemetry:
    """Spans for one sidecar; disabled telemetry still passes trace headers on."""

    def __init__(self, config: SidecarConfig, span_exporter: SpanExporter | None = None) -> None:
        self._provider: TracerProvider | None = None
        self._tracer: trace.Tracer | None = None
        if not config.telemetry and span_exporter is None:
            return
        if span_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter(
                endpoint=f"{config.otlp_endpoint}/v1/traces", timeout=5
            )
        resource = Resource.create({
            "service.name": config.service,
            "service.version": config.version,
            "service.namespace": config.namespace,
            "meshlens.component": "proxy",
        })
        self._provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON),
                                        shutdown_on_exit=False)
        # 1 s rather than the SDK's 5 s: a hop shows up in the UI while you look
        self._provider.add_span_processor(
            BatchSpanProcessor(span_exporter, schedule_delay_millis=EXPORT_DELAY_MS)
        )
        self._tracer = self._provider.get_tracer("meshlens.proxy")

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def start_hop(self, direction: Direction, method: bytes, path: str,
                  traceparent: bytes | None, tracestate: bytes | None,
                  attributes: dict[str, str | int]) -> Hop:
        """Start the hop's span as a child of the incoming ``traceparent`` (if valid)."""
        kind = SpanKind.SERVER if direction == "inbound" else SpanKind.CLIENT
        parent = parse_traceparent(traceparent)
        state = clean_tracestate(tracestate) if parent is not None else None
        tracer = self._tracer
        if tracer is None:
            passed = format_traceparent(parent.trace_id, parent.span_id, parent.flags) \
                if parent is not None else None
            return Hop(None, kind, passed, state)
        context = None
        if parent is not None:
            parent_context = trace.SpanContext(
                parent.trace_id, parent.span_id, is_remote=True,
                trace_flags=TraceFlags(parent.flags & 0x01),
                trace_state=TraceState.from_header([state]) if state else None,
            )
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent_context))
        method_text = method.decode("latin-1")
        known = method_text if method_text in _KNOWN_METHODS else "_OTHER"
        attributes["http.request.method"] = known
        attributes["url.path"] = path
        attributes["meshlens.direction"] = direction
        span = tracer.start_span(known if known != "_OTHER" else "HTTP", context=context,
                                 kind=kind, attributes=attributes)
        own = span.get_span_context()
        return Hop(span, kind, format_traceparent(own.trace_id, own.span_id, own.trace_flags),
                   state)

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        return self._provider.force_flush(timeout_millis) if self._provider else True

    def shutdown(self) -> None:
        """Flush what is queued and stop the exporter (blocking; call off the loop)."""
        provider, self._provider, self._tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()
