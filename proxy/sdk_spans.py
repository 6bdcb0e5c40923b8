"""Hop records as OpenTelemetry SDK ReadableSpans, for an injected SpanExporter.

The seam tests use (the SDK's InMemorySpanExporter) and the way to plug any SDK
exporter in; made by the export task a slice at a time, never on the request path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

if TYPE_CHECKING:
    from proxy.telemetry import Hop

_SCOPE = InstrumentationScope("meshlens.proxy")
_KINDS = {2: SpanKind.SERVER, 3: SpanKind.CLIENT}


def to_readable_spans(hops: Sequence[Hop], resource: Resource | dict[str, str]
                      ) -> list[ReadableSpan]:
    """``resource``: made once by the caller (``Resource.create`` runs the detectors)."""
    sdk_resource = resource if isinstance(resource, Resource) else Resource.create(resource)
    out = []
    for hop in hops:
        state = TraceState.from_header([hop.tracestate]) if hop.tracestate else None
        flags = TraceFlags(hop.flags & 0x01)
        trace_id = hop.trace_id
        parent = SpanContext(trace_id, hop.parent_span_id, is_remote=True,
                             trace_flags=flags, trace_state=state) if hop.parent_span_id else None
        out.append(ReadableSpan(
            name=hop.name,
            context=SpanContext(trace_id, hop.span_id, is_remote=False, trace_flags=flags,
                                trace_state=state),
            parent=parent, resource=sdk_resource, attributes=hop.span_attributes(),
            events=[Event(name, dict(values), at) for at, name, values in hop.events or ()],
            kind=_KINDS[hop.kind],
            status=Status(StatusCode.ERROR) if hop.error else Status(StatusCode.UNSET),
            start_time=hop.start_ns, end_time=hop.end_ns, instrumentation_scope=_SCOPE,
        ))
    return out
