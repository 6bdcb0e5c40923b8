"""The hand-written OTLP trace encoding decodes with the official proto classes."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from proxy.config import SidecarConfig
from proxy.otlp_wire import encode_span_fields, encode_spans, export_request
from proxy.telemetry import Direction, Hop, Telemetry

CALLER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_hops_round_trip_through_the_proto_classes() -> None:
    clock = iter(range(1_000, 10**6, 1_000))
    config = SidecarConfig(service="s", version="v1", app_port=1, telemetry=False)
    telemetry = Telemetry(config, clock_ns=lambda: next(clock))
    telemetry.enabled = True  # record without an export task
    long_path = "/items/" + "x" * 300  # lengths past one varint byte
    hop = telemetry.start_hop("inbound", b"POST", long_path,
                              [(b"traceparent", CALLER), (b"tracestate", b"v=1")],
                              {"server.port": 8080, "server.address": "catalog"})
    hop.add_event("retry", {"attempt": 2, "reason": "503"})
    hop.finish(503)
    plain = telemetry.start_hop("outbound", b"BREW", "/", [], {})
    plain.finish(200)
    body = encode_spans([hop, plain], {"service.name": "s"})
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    assert resource_spans.resource.attributes[0].value.string_value == "s"
    scope = resource_spans.scope_spans[0]
    assert scope.scope.name == "meshlens.proxy"
    first, second = scope.spans
    assert first.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert first.parent_span_id.hex() == "b7ad6b7169203331"
    assert first.span_id == hop.span_id.to_bytes(8, "big")
    assert (first.name, first.kind, first.trace_state) == ("POST", 2, "v=1")
    assert first.start_time_unix_nano == hop.start_ns < first.end_time_unix_nano == hop.end_ns
    attributes = {kv.key: kv.value for kv in first.attributes}
    assert attributes["url.path"].string_value == long_path
    assert attributes["server.port"].int_value == 8080
    assert attributes["http.response.status_code"].int_value == 503
    assert first.status.code == 2 and first.flags == 0x301
    (event,) = first.events
    assert event.name == "retry" and {kv.key: kv.value.int_value or kv.value.string_value
                                      for kv in event.attributes} == {"attempt": 2,
                                                                      "reason": "503"}
    assert (second.name, second.kind, second.status.code) == ("HTTP", 3, 0)
    assert second.parent_span_id == b"" and len(second.trace_id) == 16


def test_span_attributes_are_derived_in_the_order_they_were_once_set() -> None:
    """The request's own attributes follow the caller's first ones and precede later
    ones, the response's come last: as when the request path set them one by one."""
    config = SidecarConfig(service="s", version="v1", app_port=1, telemetry=False)
    telemetry = Telemetry(config)
    telemetry.enabled = True
    hop = telemetry.start_hop("outbound", b"BREW", "/pot", [], {"server.address": "tea"})
    hop.attributes["peer.service"] = "tea"
    hop.finish(None, "timeout")
    assert list(hop.span_attributes().items()) == [
        ("server.address", "tea"), ("http.request.method", "_OTHER"), ("url.path", "/pot"),
        ("meshlens.direction", "outbound"), ("peer.service", "tea"), ("error.type", "timeout")]
    served = telemetry.start_hop("inbound", b"GET", "/", [], {})
    served.finish(404)  # an error for a client, not for a server
    assert not served.error and served.span_attributes()["http.response.status_code"] == 404
    called = telemetry.start_hop("outbound", b"GET", "/", [], {})
    called.finish(404)
    assert called.error and called.span_attributes()["error.type"] == "404"


def _proto_value(value: str | int) -> AnyValue:
    return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)


def _proto_span(hop: Hop) -> Span:
    """The span as the proto classes make it from the hop's facts, attributes in order."""
    return Span(
        trace_id=hop.trace_id.to_bytes(16, "big"), span_id=hop.span_id.to_bytes(8, "big"),
        trace_state=hop.tracestate or "",
        parent_span_id=hop.parent_span_id.to_bytes(8, "big") if hop.parent_span_id else b"",
        name=hop.name, kind=hop.kind,  # type: ignore[arg-type]
        start_time_unix_nano=hop.start_ns, end_time_unix_nano=hop.end_ns,
        attributes=[KeyValue(key=k, value=_proto_value(v))
                    for k, v in hop.span_attributes().items()],
        events=[Span.Event(time_unix_nano=at, name=name,
                           attributes=[KeyValue(key=k, value=_proto_value(v))
                                       for k, v in values.items()])
                for at, name, values in hop.events or ()],
        status=Status(code=Status.STATUS_CODE_ERROR) if hop.error else None,
        flags=0x100 | hop.flags | (0x200 if hop.parent_span_id else 0))


def test_the_encoding_is_what_the_proto_classes_serialize() -> None:
    """Byte for byte, over spans whose encoded parts repeat (so come from caches) and
    spans that differ in every field the encoding reads."""
    clock = iter(range(1_000, 10**6, 1_000))
    config = SidecarConfig(service="s", version="v1", app_port=1, telemetry=False)
    telemetry = Telemetry(config, clock_ns=lambda: next(clock))
    telemetry.enabled = True
    connection: dict[str, str | int] = {"server.address": "catalog", "server.port": 8080,
                                        "network.peer.address": "10.0.0.7",
                                        "network.peer.port": 50123, "url.scheme": "http"}
    other_caller = b"00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-00"
    cases: list[tuple[Direction, bytes, str, list[tuple[bytes, bytes]], int | None,
                      str | None]] = [
            ("inbound", b"GET", "/", [], 200, None),
            ("inbound", b"GET", "/", [], 200, None),
            ("inbound", b"GET", "/", [(b"traceparent", CALLER)], 200, None),
            ("inbound", b"GET", "/", [(b"traceparent", CALLER)], 200, None),
            ("inbound", b"GET", "/", [(b"traceparent", other_caller)], 200, None),
            ("inbound", b"POST", "/items/" + "x" * 300, [(b"traceparent", CALLER),
                                                        (b"tracestate", b"v=1")], 503, None),
            ("inbound", b"GET", "/", [], 404, None),
            ("outbound", b"GET", "/", [], 404, None),
            ("outbound", b"GET", "/", [], 404, None),
            ("outbound", b"BREW", "/pot", [], None, "timeout"),
            ("outbound", b"GET", "/", [(b"b3", b"0af7651916cd43dd-b7ad6b7169203331-1")], 200,
             None)]
    hops = []
    for direction, method, path, headers, status, error in cases:
        hop = telemetry.start_hop(direction, method, path, headers, connection.copy())
        if direction == "outbound":
            hop.attributes["peer.service"] = "catalog"
        if path == "/pot":
            hop.add_event("retry", {"attempt": 2, "reason": "503"})
        hop.finish(status, error)
        hops.append(hop)
    resource = {"service.name": "s", "service.version": "v1"}
    expected = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key=k, value=_proto_value(v))
                                      for k, v in resource.items()]),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="meshlens.proxy"),
                                spans=[_proto_span(hop) for hop in hops])])])
    for _ in range(2):  # the second time from the caches
        assert encode_spans(hops, resource) == expected.SerializeToString()
    slices = [encode_span_fields(hops[:4]), encode_span_fields(hops[4:])]
    assert export_request(slices, resource) == expected.SerializeToString()
