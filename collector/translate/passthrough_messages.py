"""Two views of an OTLP `ExportTraceServiceRequest`, built at import from the installed
opentelemetry-proto descriptors, for reading a request without decoding it all.

`FactsRequest` is OTLP's own schema with one change: span and resource
attributes are declared `map<string, AnyValue>`. A map entry is encoded exactly as
a `KeyValue` (key = 1, value = 2), so the same bytes parse, and protobuf's C
parser builds the map: `span.attributes.get("http.response.status_code")` is a
lookup in C instead of a Python loop over every attribute. Parsing is as strict as
with the real schema (every other field, UTF-8 checks included, is unchanged);
a key given twice keeps its last value, as the decoded dict does.

`ValueProbe` answers one question in one parse: does the request hold an
attribute value of a kind that ClickHouse's side of the passthrough does not
convert (double, array, kvlist, string table index)? Every message on the way is
declared singular, so protobuf merges all resource spans, spans, events, links and
attributes of the request into one of each, and the repeated value fields collect
what every attribute had. Fields the probe does not need are declared with the
cheapest type that keeps them off the unknown-field list.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_Field = descriptor_pb2.FieldDescriptorProto
_ANY_VALUE = ".opentelemetry.proto.common.v1.AnyValue"


def _files_of(file: Any) -> list[descriptor_pb2.FileDescriptorProto]:
    """`file` and what it imports, dependencies first."""
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    seen: set[str] = set()

    def visit(f: Any) -> None:
        for dependency in f.dependencies:
            visit(dependency)
        if f.name not in seen:
            seen.add(f.name)
            proto = descriptor_pb2.FileDescriptorProto()
            f.CopyToProto(proto)
            ordered.append(proto)

    visit(file)
    return ordered


def _attributes_as_map(file: descriptor_pb2.FileDescriptorProto, message: str) -> None:
    """Redeclare `message.attributes` (repeated KeyValue) as map<string, AnyValue>."""
    for owner in file.message_type:
        if owner.name != message:
            continue
        entry = owner.nested_type.add(name="AttributesEntry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_Field.TYPE_STRING, label=_Field.LABEL_OPTIONAL)
        entry.field.add(
            name="value", number=2, type=_Field.TYPE_MESSAGE, label=_Field.LABEL_OPTIONAL,
            type_name=_ANY_VALUE,
        )  # fmt: skip
        for field in owner.field:
            if field.name == "attributes":
                field.type_name = f".{file.package}.{message}.AttributesEntry"
                return
    raise LookupError(f"{file.name}: no {message}.attributes to redeclare")


def _facts_request() -> Any:
    pool = descriptor_pool.DescriptorPool()
    for file in _files_of(trace_service_pb2.DESCRIPTOR):
        if file.name.endswith("resource/v1/resource.proto"):
            _attributes_as_map(file, "Resource")
        elif file.name.endswith("trace/v1/trace.proto"):
            _attributes_as_map(file, "Span")
        pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(
            "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
        )
    )


_B, _M, _U, _X = _Field.TYPE_BYTES, _Field.TYPE_MESSAGE, _Field.TYPE_UINT64, _Field.TYPE_FIXED64
_ONE, _MANY = _Field.LABEL_OPTIONAL, _Field.LABEL_REPEATED
# (message, [(field, number, type, label, message type)]); numbers as in OTLP.
_PROBE = (
    ("Value", [
        ("string_value", 1, _B, _ONE, ""), ("bool_value", 2, _U, _ONE, ""),
        ("int_value", 3, _U, _ONE, ""), ("bytes_value", 7, _B, _ONE, ""),
        ("double_value", 4, _Field.TYPE_DOUBLE, _MANY, ""), ("array_value", 5, _B, _MANY, ""),
        ("kvlist_value", 6, _B, _MANY, ""), ("string_value_strindex", 8, _U, _MANY, ""),
    ]),
    ("Attribute", [("key", 1, _B, _ONE, ""), ("value", 2, _M, _ONE, "Value")]),
    ("Resource", [("attributes", 1, _M, _ONE, "Attribute")]),
    ("Event", [
        ("time_unix_nano", 1, _X, _ONE, ""), ("name", 2, _B, _ONE, ""),
        ("attributes", 3, _M, _ONE, "Attribute"),
    ]),
    ("Link", [
        ("trace_id", 1, _B, _ONE, ""), ("span_id", 2, _B, _ONE, ""),
        ("trace_state", 3, _B, _ONE, ""), ("attributes", 4, _M, _ONE, "Attribute"),
    ]),
    ("Span", [
        ("trace_id", 1, _B, _ONE, ""), ("span_id", 2, _B, _ONE, ""),
        ("trace_state", 3, _B, _ONE, ""), ("parent_span_id", 4, _B, _ONE, ""),
        ("name", 5, _B, _ONE, ""), ("kind", 6, _U, _ONE, ""),
        ("start_time_unix_nano", 7, _X, _ONE, ""), ("end_time_unix_nano", 8, _X, _ONE, ""),
        ("attributes", 9, _M, _ONE, "Attribute"), ("events", 11, _M, _ONE, "Event"),
        ("links", 13, _M, _ONE, "Link"), ("status", 15, _B, _ONE, ""),
    ]),
    ("ScopeSpans", [("scope", 1, _B, _ONE, ""), ("spans", 2, _M, _ONE, "Span")]),
    ("ResourceSpans", [
        ("resource", 1, _M, _ONE, "Resource"), ("scope_spans", 2, _M, _ONE, "ScopeSpans"),
    ]),
    ("Request", [("resource_spans", 1, _M, _ONE, "ResourceSpans")]),
)  # fmt: skip


def _value_probe() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="meshlens/otlp_value_probe.proto", package="meshlens.probe", syntax="proto3"
    )
    for name, fields in _PROBE:
        message = file.message_type.add(name=name)
        for field_name, number, kind, label, message_type in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if message_type:
                field.type_name = f".meshlens.probe.{message_type}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("meshlens.probe.Request"))


FactsRequest = _facts_request()
ValueProbe = _value_probe()


def has_unconverted_values(payload: bytes) -> bool:
    """Whether a resource, span, event or link attribute of the request is a double,
    array, kvlist or string table index. `payload` must parse (FactsRequest first)."""
    probe = ValueProbe()
    probe.ParseFromString(payload)
    resource_spans = probe.resource_spans
    span = resource_spans.scope_spans.spans
    for value in (
        resource_spans.resource.attributes.value,
        span.attributes.value,
        span.events.attributes.value,
        span.links.attributes.value,
    ):
        if (
            value.double_value
            or value.array_value
            or value.kvlist_value
            or value.string_value_strindex
        ):
            return True
    return False
