"""OTLP trace requests for the passthrough (collector/translate/otlp_passthrough.py):
a mesh-like request, one with every attribute conversion and layout the rows must
keep, and hand-encoded ones that no SDK sends but protobuf allows."""

from __future__ import annotations

import os
import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.spans import BASE_NS, MS


def kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))  # type: ignore[arg-type]


def mesh_request(services: tuple[str, ...], traces: int, *, seed: int = 1) -> bytes:
    """`traces` chains services[0] -> services[1] -> ...: a server span per service and
    a client span per call, 13-16 attributes each, one request in 20 failing."""
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    scopes = {}
    for service in services:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend([
            kv("service.name", string_value=service), kv("service.version", string_value="v1"),
            kv("host.name", string_value=f"{service}-0"),
        ])  # fmt: skip
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "meshlens.proxy"
        scopes[service] = scope.spans
    for t in range(traces):
        trace_id, parent = os.urandom(16), b""
        start = BASE_NS + t * MS
        for depth, service in enumerate(services):
            status = 500 if rng.random() < 0.05 else 200
            common = [
                kv("http.request.method", string_value="GET"),
                kv("http.route", string_value=f"/{service}"),
                kv("url.path", string_value=f"/{service}/{rng.randrange(1000)}"),
                kv("http.response.status_code", int_value=status),
                kv("server.port", int_value=8080),
                kv("network.protocol.version", string_value="1.1"),
                kv("client.address", string_value=f"10.0.0.{rng.randrange(255)}"),
                kv("tls.peer", string_value=f"spiffe://mesh.local/sa/{service}"),
                kv("meshlens.tls", bool_value=True),
                kv("meshlens.route", string_value=f"{service}-default"),
            ]
            server_id, duration = os.urandom(8), rng.randrange(1, 50) * MS
            scopes[service].append(Span(
                trace_id=trace_id, span_id=server_id, parent_span_id=parent,
                name=f"GET /{service}", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=start, end_time_unix_nano=start + duration,
                attributes=[*common, kv("server.address", string_value=f"{service}.mesh")],
                status=Status(code=Status.STATUS_CODE_ERROR if status == 500 else 0),
            ))  # fmt: skip
            if depth + 1 < len(services):
                callee, parent = services[depth + 1], os.urandom(8)
                scopes[service].append(Span(
                    trace_id=trace_id, span_id=parent, parent_span_id=server_id,
                    name=f"GET /{callee}", kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=start + 1, end_time_unix_nano=start + duration - 1,
                    attributes=[*common, kv("peer.service", string_value=callee),
                                kv("server.address", string_value=f"{callee}.mesh")],
                ))  # fmt: skip
    return request.SerializeToString()


def every_conversion_request(service: str) -> bytes:
    """Every attribute value kind the passthrough converts, keys given twice, resources
    without (or with odd) service names, events, links, empty scopes and resources."""
    attributes = [
        kv("s", string_value="plain"),
        kv("empty", string_value=""),
        kv("i", int_value=-42),
        kv("zero", int_value=0),
        kv("big", int_value=2**63 - 1),
        kv("t", bool_value=True),
        kv("f", bool_value=False),
        kv("b", bytes_value=b"\x00\xffab"),
        kv("eb", bytes_value=b""),
        KeyValue(key="unset"),
        kv("text", string_value="héllo ✓ 'q' \"d\" \\ \n\t"),
        kv("dup", string_value="first"),
        kv("other", string_value="x"),
        kv("dup", int_value=7),
        kv("", string_value="empty key"),
        kv("http.response.status_code", string_value="503"),
        kv("db.system", string_value="redis"),
        kv("server.address", string_value="cache"),
    ]
    resources = [
        [kv("service.name", string_value=service), kv("service.version", string_value="v2")],
        [kv("host.name", string_value="no service name")],
        [kv("service.name", int_value=12), kv("service.name", string_value=f"{service}-later")],
        [kv("service.name", string_value=""), kv("service.version", bool_value=False)],
        [],
    ]
    request = ExportTraceServiceRequest()
    for r, resource_attributes in enumerate(resources):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(resource_attributes)
        for s in range(2):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name, scope_spans.scope.version = f"scope{s}", "1.2" if s else ""
            for k in range(6):  # every span kind, every status code
                span = Span(
                    trace_id=os.urandom(16), span_id=os.urandom(8),
                    parent_span_id=os.urandom(8) if k % 2 else b"", name=f"op {k} ✓",
                    kind=k, start_time_unix_nano=BASE_NS + r * MS + k,  # type: ignore[arg-type]
                    end_time_unix_nano=BASE_NS + r * MS + k * 1000 + 5,
                    attributes=attributes if k % 3 == 0 else attributes[:3],
                    trace_state="a=b" if k == 1 else "",
                    status=Status(code=k % 3, message="boom" if k % 3 == 2 else ""),  # type: ignore[arg-type]
                )  # fmt: skip
                if k == 2:
                    event = span.events.add(time_unix_nano=BASE_NS + 77, name="ev")
                    event.attributes.extend([kv("ea", string_value="1"), kv("eb", int_value=2),
                                             kv("ea", bool_value=True)])  # fmt: skip
                    span.events.add(time_unix_nano=BASE_NS + 78)
                if k == 3:
                    link = span.links.add(
                        trace_id=os.urandom(16), span_id=os.urandom(8), trace_state="x=y"
                    )
                    link.attributes.extend([kv("la", string_value="z")])
                    span.links.add(trace_id=os.urandom(16), span_id=os.urandom(8))
                scope_spans.spans.append(span)
        resource_spans.scope_spans.add()  # a scope without spans
    request.resource_spans.add()  # a resource without scopes
    return request.SerializeToString()


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2) of a message, encoded by hand."""
    size, prefix = len(payload), bytearray()
    while size >= 0x80:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes([number << 3 | 2]) + bytes(prefix) + payload


def oneof_given_twice_request(service: str) -> bytes:
    """A span attribute whose AnyValue holds string_value, then int_value, on the wire:
    protobuf keeps the last, ClickHouse refuses the whole input."""
    value_twice = (
        _field(1, b"twice")
        + _field(2, AnyValue(string_value="first").SerializeToString())
        + _field(2, AnyValue(int_value=5).SerializeToString())
    )
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="GET /",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=BASE_NS,
        end_time_unix_nano=BASE_NS + MS,
    ).SerializeToString() + _field(9, value_twice)
    resource = _field(1, kv("service.name", string_value=service).SerializeToString())
    return _field(1, _field(1, resource) + _field(2, _field(2, span)))
