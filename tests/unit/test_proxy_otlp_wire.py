"""The hand-written OTLP trace encoding decodes with the official proto classes."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from proxy.config import SidecarConfig
from proxy.otlp_wire import encode_spans
from proxy.telemetry import Telemetry

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
