"""What span metrics and the service graph read of a span: its facts.

Only server and client spans have any; other kinds are left out. Facts come
from decoded columns (`facts_from_columns`, for batches decoded in Python) or
straight from the OTLP bytes (collector/translate/otlp_passthrough.py, for
requests that ClickHouse decodes itself); both must give the same facts for the
same span, and the service graph cannot tell which way a span came.

Span keys are raw bytes, trace id + span id (24 bytes); `parent_key` is
trace id + parent span id, b"" for a root span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.processors.spanmetrics import status_class
from storage.model import SpanColumns


@dataclass(slots=True)
class ServerSpan:
    """One request as the called service saw it: a row of RED once its caller is known."""

    key: bytes
    parent_key: bytes
    timestamp_ns: int
    service: str
    operation: str
    version: str  # resource attribute service.version, "" if none
    status: str  # status class: "2xx".."5xx", "ok" or "error"
    error: bool  # 5xx or span status Error
    duration_ns: int


@dataclass(slots=True)
class ClientSpan:
    """One call as the calling service saw it: an edge once its server is known."""

    key: bytes
    service: str
    timestamp_ns: int
    duration_ns: int
    error: bool  # span status Error
    peer: tuple[str, str] | None  # (server, connection type) if no server span claims it
    paired: bool = False


SpanFact = ServerSpan | ClientSpan


def peer_of(attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """Whom a client span calls when no server span answers it: a database or a host."""
    db = attributes.get("db.system.name") or attributes.get("db.system")
    if db:
        return db, "database"
    host = attributes.get("peer.service") or attributes.get("server.address")
    return (host, "external") if host else None


def span_key(trace_id: str, span_id: str) -> bytes:
    """The key of a span given by hex ids, as the passthrough gives it from raw ids."""
    try:
        return bytes.fromhex(trace_id + span_id)
    except ValueError:  # not hex: columns built by hand; such a span pairs only by itself
        return (trace_id + span_id).encode()


def facts_from_columns(spans: SpanColumns) -> list[SpanFact]:
    """The facts of every server and client span of `spans`, in their order."""
    facts: list[SpanFact] = []
    trace_ids, span_ids, parent_ids = spans.TraceId, spans.SpanId, spans.ParentSpanId
    for i, kind in enumerate(spans.SpanKind):
        if kind == "Server":
            attributes = spans.SpanAttributes[i]
            status, error = status_class(spans.StatusCode[i], attributes)
            parent_id = parent_ids[i]
            facts.append(
                ServerSpan(
                    span_key(trace_ids[i], span_ids[i]),
                    span_key(trace_ids[i], parent_id) if parent_id else b"",
                    spans.Timestamp[i],
                    spans.ServiceName[i],
                    spans.SpanName[i],
                    spans.ResourceAttributes[i].get("service.version", ""),
                    status,
                    error,
                    spans.Duration[i],
                )
            )
        elif kind == "Client":
            facts.append(
                ClientSpan(
                    span_key(trace_ids[i], span_ids[i]),
                    spans.ServiceName[i],
                    spans.Timestamp[i],
                    spans.Duration[i],
                    spans.StatusCode[i] == "Error",
                    peer_of(spans.SpanAttributes[i]),
                )
            )
    return facts
