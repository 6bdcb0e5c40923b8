"""OTLP trace protobuf written by hand from hop records (no message objects).

Building opentelemetry-proto messages costs ~45 us per span in Python; writing
the wire format directly costs a fraction of that, and most of a span repeats:
the spans of one connection and route differ in their ids, times and path, and
rarely in anything else. So all but those is encoded once per set of the other
facts (method, status, kind, whether there is a parent, the caller's attributes)
and reused: a span is then a few lookups and one formatting. The output is what
the proto classes serialize, byte for byte (a test compares them).
"""

from __future__ import annotations

import struct
from binascii import unhexlify
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.telemetry import Hop

_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_KIND_TIMES = struct.Struct("<BBBQBQ").pack  # tag, kind (< 128), tag, start, tag, end
_TIMES = struct.Struct("<QBQ").pack  # start, the tag of end, end
# a spans field with a two-byte length: trace_id, span_id, [parent_span_id,] then the
# name and kind, the times, the attributes before url.path, url.path, the rest
_SPAN = b"\x12%c%c\x0a\x10%b\x12\x08%b%b%b%b%b%b"
_CHILD_SPAN = b"\x12%c%c\x0a\x10%b\x12\x08%b\x22\x08%b%b%b%b%b%b"
_CACHE_LIMIT = 4096
_pairs: dict[tuple[str, str | int], bytes] = {}
_fields: dict[tuple[int, tuple[str, str | int]], bytes] = {}
_sets: dict[tuple[int, tuple[tuple[str, str | int], ...]], bytes] = {}
_names: dict[bytes, bytes] = {}  # by request method
_paths: dict[str, bytes] = {}  # url.path attribute fields
# per span facts but ids, times and path: (name and kind, attributes before the path,
# the attributes after it and the fields after those, the span's size without the
# path); None: the span is encoded whole (its attributes set url.path themselves)
_Template = tuple[bytes, bytes, bytes, int] | None
_templates: dict[tuple[object, ...], _Template] = {}
_UNSEEN: _Template = (b"", b"", b"", -1)  # no template is this one (None is one)


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; ``tag`` is (number << 3) | 2, pre-shifted by callers."""
    size = len(payload)
    if size < 0x80 and tag < 0x80:
        return bytes((tag, size)) + payload
    return _varint(tag) + _varint(size) + payload


def key_value(key: str, value: str | int) -> bytes:
    """An encoded ``KeyValue`` message body (the parent adds its own field tag)."""
    pair = (key, value)
    cached = _pairs.get(pair)
    if cached is not None:
        return cached
    if isinstance(value, bool) or not isinstance(value, int):
        any_value = _field(0x0A, str(value).encode())  # string_value = 1
    else:
        any_value = b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int_value = 3
    encoded = _field(0x0A, key.encode()) + _field(0x12, any_value)
    if len(_pairs) >= _CACHE_LIMIT:
        _pairs.clear()
    _pairs[pair] = encoded
    return encoded


def _attributes(tag: int, values: Mapping[str, str | int]) -> bytes:
    """Encoded ``KeyValue`` fields; whole attribute sets repeat too (a route's requests
    differ in a port, a path or a status at most), so the set is cached as well."""
    key = (tag, tuple(values.items()))
    encoded = _sets.get(key)
    if encoded is None:
        encoded = _attribute_fields(tag, values)
        if len(_sets) >= _CACHE_LIMIT:
            _sets.clear()
        _sets[key] = encoded
    return encoded


def _attribute_fields(tag: int, values: Mapping[str, str | int]) -> bytes:
    cache = _fields
    out = []
    for pair in values.items():
        encoded = cache.get((tag, pair))
        if encoded is None:
            encoded = _field(tag, key_value(*pair))
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[(tag, pair)] = encoded
        out.append(encoded)
    return b"".join(out)


def _name(hop: Hop) -> bytes:
    name = _names.get(hop.method)
    if name is None:
        name = _names[hop.method] = _field(0x2A, hop.name.encode())
        if len(_names) > _CACHE_LIMIT:
            _names.clear()
    return name


def _tail(hop: Hop) -> bytes:
    """The fields after the attributes: events, status, flags."""
    parts = []
    for at, event_name, values in hop.events or ():
        event = (b"\x09" + _FIXED64(at) + _field(0x12, event_name.encode())
                 + _attributes(0x1A, values))
        parts.append(_field(0x5A, event))
    if hop.error:
        parts.append(b"\x7a\x02\x18\x02")  # status { code: STATUS_CODE_ERROR }
    flags = 0x100 | (hop.flags & 0xFF) | (0x200 if hop.parent_hex else 0)  # remote parent
    parts += (b"\x85\x01", _FIXED32(flags))
    return b"".join(parts)


def _span(hop: Hop) -> bytes:
    """A span's fields, none from a template (the way for the unusual ones)."""
    parts = [b"\x0a\x10", unhexlify(hop.trace_hex), b"\x12\x08", unhexlify(hop.span_hex)]
    if hop.tracestate:
        parts.append(_field(0x1A, hop.tracestate.encode()))
    if hop.parent_hex:
        parts += (b"\x22\x08", unhexlify(hop.parent_hex))
    # kind (a one-byte varint), start and end times in one pack
    parts += (_name(hop), _KIND_TIMES(0x30, hop.kind, 0x39, hop.start_ns, 0x41, hop.end_ns),
              _attributes(0x4A, hop.span_attributes()), _tail(hop))
    return b"".join(parts)


def _template(hop: Hop, key: tuple[object, ...]) -> _Template:
    template: _Template = None
    if "url.path" not in hop.attributes:
        items = list(hop.span_attributes().items())
        at = items.index(("url.path", hop.path))
        before = _attribute_fields(0x4A, dict(items[:at]))
        after = _attribute_fields(0x4A, dict(items[at + 1:])) + _tail(hop)
        middle = _name(hop) + bytes((0x30, hop.kind, 0x39))  # then the times
        size = 28 + (10 if hop.parent_hex else 0) + len(middle) + 17 + len(before) \
            + len(after)  # 28: the ids and their tags, 17: the times and end's tag
        template = (middle, before, after, size)
    if len(_templates) >= _CACHE_LIMIT:
        _templates.clear()
    _templates[key] = template
    return template


def _path_field(path: str) -> bytes:
    encoded = _field(0x4A, key_value("url.path", path))
    if len(_paths) >= _CACHE_LIMIT:
        _paths.clear()
    _paths[path] = encoded
    return encoded


def _span_field(hop: Hop) -> bytes:
    """One ``spans`` field: the usual span from a template, its size in two bytes."""
    if hop.tracestate or hop.events:
        return _field(0x12, _span(hop))
    parent, attributes = hop.parent_hex, hop.attributes
    # names and values rather than their pairs: a pair is a tuple made, hashed and
    # compared item by item on every lookup
    key = (hop.method, hop.status, hop.error_type, hop.kind, hop.flags, not parent,
           hop.fixed, *attributes, *attributes.values())
    template = _templates.get(key, _UNSEEN)  # one lookup: a tuple's hash is not kept
    if template is _UNSEEN:
        template = _template(hop, key)
    if template is None:
        return _field(0x12, _span(hop))
    middle, before, after, size = template
    path = _paths.get(hop.path) or _path_field(hop.path)
    size += len(path)
    if not 0x80 <= size < 0x4000:
        return _field(0x12, _span(hop))
    times = _TIMES(hop.start_ns, 0x41, hop.end_ns)
    if parent:
        return _CHILD_SPAN % (size & 0x7F | 0x80, size >> 7, unhexlify(hop.trace_hex),
                              unhexlify(hop.span_hex), unhexlify(parent), middle,
                              times, before, path, after)
    return _SPAN % (size & 0x7F | 0x80, size >> 7, unhexlify(hop.trace_hex),
                    unhexlify(hop.span_hex), middle, times, before, path, after)


def encode_span_fields(hops: Sequence[Hop]) -> bytes:
    """The ``spans`` fields of a ``ScopeSpans`` for ``hops``: encode a batch a slice at a
    time and wrap the slices with :func:`export_request`."""
    return b"".join([_span_field(hop) for hop in hops])


def export_request(span_fields: Sequence[bytes], resource: Mapping[str, str],
                   scope: str = "meshlens.proxy") -> bytes:
    """One ``ExportTraceServiceRequest`` with one resource and one scope around the
    slices of ``span_fields`` (from :func:`encode_span_fields`), joined once: a batch
    is hundreds of kilobytes, and each message wrapped around it would copy it."""
    scope_field = _field(0x0A, _field(0x0A, scope.encode()))
    resource_field = _field(0x0A, _attributes(0x0A, resource))
    scope_spans_size = len(scope_field) + sum(map(len, span_fields))
    scope_spans_head = b"\x12" + _varint(scope_spans_size) + scope_field
    resource_spans_size = len(resource_field) + len(scope_spans_head) + scope_spans_size \
        - len(scope_field)
    return b"".join([b"\x0a", _varint(resource_spans_size), resource_field, scope_spans_head,
                     *span_fields])


def encode_spans(hops: Sequence[Hop], resource: Mapping[str, str],
                 scope: str = "meshlens.proxy") -> bytes:
    """One ``ExportTraceServiceRequest`` with one resource and one scope."""
    return export_request([encode_span_fields(hops)], resource, scope)
