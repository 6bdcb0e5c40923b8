"""W3C Trace Context: parse and format ``traceparent``, carry ``tracestate``.

The proxy parses the incoming header itself (no OTel propagator on the hot path)
and formats the one it sends onwards from the new span's ids.
"""

from __future__ import annotations

import binascii
import os
import struct
from typing import NamedTuple

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"

_HEX = frozenset("0123456789abcdef")
_VERSION_00_LENGTH = 55
_DASH = 0x2D
# a traceparent's version 00 part through _SHAPES is _SHAPE_00 when its dashes are in
# their places and lowercase hex is between them: one pass in C, and a comparison
_SHAPES = bytes(0x30 if chr(c) in _HEX else c if c == _DASH else 0x21 for c in range(256))
_SHAPE_00 = b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-00"
# version, trace id, span id and flags (hex) out of the version 00 part in one call
_W3C_FIELDS = struct.Struct("2sx32sx16sx2s").unpack
_ZERO_TRACE, _ZERO_SPAN = b"0" * 32, b"0" * 16
_MAX_TRACESTATE_MEMBERS = 32
_MAX_TRACESTATE_LENGTH = 512


class TraceParent(NamedTuple):
    """One parsed ``traceparent`` value: ids as ints, flags as a byte (a named tuple:
    immutable, and made several times cheaper than a frozen dataclass)."""

    trace_id: int
    span_id: int
    flags: int = 1
    version: int = 0

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 0x01)

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    @property
    def span_id_hex(self) -> str:
        return f"{self.span_id:016x}"


IDS_PER_DRAW = 256
_ZERO_WORD = bytes(8)


def draw_ids() -> list[tuple[bytes, bytes]]:
    """Ids for new spans as ``traceparent`` writes them, (trace id, span id) in
    lowercase hex, random from :func:`os.urandom` and drawn 256 at a time.

    Formatting one span's two ids from ints costs ~4k instructions and drawing them
    with ``random`` ~2k; here a draw costs ~1.2k per span (a hex conversion and a
    split in C each for traces and spans), and ints are made from the hex only when
    the span is exported. A draw with eight zero bytes anywhere (that would include
    an invalid all-zero id; about 2^-51 per draw) is thrown away whole.
    """
    trace_bytes, span_bytes = 16 * IDS_PER_DRAW, 8 * IDS_PER_DRAW
    while True:
        raw = os.urandom(trace_bytes + span_bytes)
        if raw.find(_ZERO_WORD) < 0:
            break
    traces = binascii.hexlify(raw[:trace_bytes], b" ", 16).split()
    spans = binascii.hexlify(raw[trace_bytes:], b" ", 8).split()
    return list(zip(traces, spans, strict=True))


def _is_lower_hex(text: str) -> bool:
    return bool(text) and all(c in _HEX for c in text)


def parse_traceparent(value: str | bytes | None) -> TraceParent | None:
    """Return the parsed header, or None when it is absent or invalid.

    Follows the W3C rules: lowercase hex only, version ``ff`` is invalid, version
    ``00`` has exactly four fields, later versions may append fields after a dash,
    and all-zero trace or span ids are invalid.
    """
    if value is None:
        return None
    if isinstance(value, str):  # as bytes: what a later version appends is not read
        value = value.encode("utf-8", "replace")
    fields = _traceparent_fields(value)
    if fields is None:
        return None
    version, trace_hex, span_hex, flags = fields
    return TraceParent(int(trace_hex, 16), int(span_hex, 16), int(flags, 16), int(version, 16))


def _traceparent_fields(value: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    """Version, trace id, span id and flags of a valid ``traceparent``, in hex, or None
    (hex: a span continues the trace with its caller's hex)."""
    if len(value) != _VERSION_00_LENGTH:
        value = value.strip(b" \t")
        if len(value) > _VERSION_00_LENGTH:  # a later version may add fields after a dash
            if value[:2] == b"00" or value[_VERSION_00_LENGTH] != _DASH:
                return None
            value = value[:_VERSION_00_LENGTH]
        elif len(value) < _VERSION_00_LENGTH:
            return None
    if value.translate(_SHAPES) != _SHAPE_00:
        return None
    fields = _W3C_FIELDS(value)
    if fields[0] == b"ff" or fields[1] == _ZERO_TRACE or fields[2] == _ZERO_SPAN:
        return None
    return fields


def format_traceparent(trace_id: int, span_id: int, flags: int = 1) -> str:
    """The version ``00`` header for the given ids (only the sampled bit of flags)."""
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"


def clean_tracestate(value: str | bytes | None) -> str | None:
    """Tracestate passed on unchanged when it is within the W3C size limits.

    Vendors own the entries; the proxy does not add its own, so it only drops a
    header that breaks the limits rather than forwarding something oversized.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    value = value.strip(" \t")
    if not value or len(value) > _MAX_TRACESTATE_LENGTH:
        return None
    members = [m for m in (part.strip() for part in value.split(",")) if m]
    if len(members) > _MAX_TRACESTATE_MEMBERS or any("=" not in m for m in members):
        return None
    return ",".join(members)


# B3 (Zipkin): accepted when there is no valid traceparent, and forwarded in the
# form it came in so that B3-only apps further down keep their traces.
B3 = b"b3"
X_B3_TRACE_ID = b"x-b3-traceid"
X_B3_SPAN_ID = b"x-b3-spanid"
X_B3_PARENT_SPAN_ID = b"x-b3-parentspanid"
X_B3_SAMPLED = b"x-b3-sampled"
X_B3_FLAGS = b"x-b3-flags"
B3_MULTI = frozenset({X_B3_TRACE_ID, X_B3_SPAN_ID, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_FLAGS})
TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE, B3}) | B3_MULTI


def _b3_id(text: str, lengths: tuple[int, ...]) -> int | None:
    text = text.strip().lower()
    if len(text) not in lengths or not _is_lower_hex(text):
        return None
    return int(text, 16) or None


def _b3_flags(sampled: str | None, debug: str | None = None) -> int:
    """Sampled unless the caller said no; B3 defers the decision when absent."""
    if debug == "1" or sampled in ("d", "1", "true"):
        return 1
    return 0 if sampled in ("0", "false") else 1


def parse_b3_single(value: str | bytes | None) -> TraceParent | None:
    """``b3: {trace}-{span}[-{sampled}[-{parent}]]``; ``b3: 0`` alone has no ids."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    parts = text.strip().split("-")
    if len(parts) < 2 or len(parts) > 4:
        return None
    trace_id = _b3_id(parts[0], (16, 32))
    span_id = _b3_id(parts[1], (16,))
    if trace_id is None or span_id is None:
        return None
    sampled = parts[2].strip().lower() if len(parts) > 2 else None
    if sampled not in (None, "0", "1", "d"):
        return None
    return TraceParent(trace_id=trace_id, span_id=span_id, flags=_b3_flags(sampled))


def parse_b3_multi(values: dict[bytes, bytes]) -> TraceParent | None:
    """``X-B3-TraceId`` and ``X-B3-SpanId`` (lowercase names as keys), sampling optional."""
    trace_text, span_text = values.get(X_B3_TRACE_ID), values.get(X_B3_SPAN_ID)
    if trace_text is None or span_text is None:
        return None
    trace_id = _b3_id(trace_text.decode("latin-1"), (16, 32))
    span_id = _b3_id(span_text.decode("latin-1"), (16,))
    if trace_id is None or span_id is None:
        return None
    sampled = values.get(X_B3_SAMPLED)
    debug = values.get(X_B3_FLAGS)
    return TraceParent(trace_id=trace_id, span_id=span_id, flags=_b3_flags(
        sampled.decode("latin-1").strip().lower() if sampled is not None else None,
        debug.decode("latin-1").strip() if debug is not None else None))


def format_b3_single(trace_id: int, span_id: int, flags: int) -> bytes:
    return b"%032x-%016x-%d" % (trace_id, span_id, flags & 0x01)


def format_b3_multi(trace_id: int, span_id: int, flags: int) -> list[tuple[bytes, bytes]]:
    return [(b"X-B3-TraceId", b"%032x" % trace_id), (b"X-B3-SpanId", b"%016x" % span_id),
            (b"X-B3-Sampled", b"1" if flags & 0x01 else b"0")]


class IncomingContext(NamedTuple):
    """The parent a request carries and the propagation formats to answer in. The ids
    are hex, as a ``traceparent`` carries them: the hop's span continues the trace with
    them and sends them on, and ints are made only when a span is exported."""

    trace_hex: bytes  # b"%032x" % the parent's trace id; empty: no parent
    span_hex: bytes  # b"%016x" % the parent span's id
    flags: int
    tracestate: str | None
    b3: str | None  # "single", "multi" or None: forwarded in the form it came in

    @property
    def parent(self) -> TraceParent | None:
        if not self.trace_hex:
            return None
        return TraceParent(int(self.trace_hex, 16), int(self.span_hex, 16), self.flags)


NO_CONTEXT = IncomingContext(b"", b"", 0, None, None)  # a request without trace headers
# makes an IncomingContext from a tuple of its fields without the Python-level __new__
# a NamedTuple call goes through (several times what the tuple costs)
_context = tuple.__new__
# a valid traceparent's flags (lowercase hex) -> their value: a lookup, cheaper than int()
_FLAG_VALUES = {b"%02x" % flags: flags for flags in range(256)}


def extract(headers: list[tuple[bytes, bytes]]) -> IncomingContext:
    """W3C ``traceparent`` wins when valid; otherwise B3 single, then B3 multi. The first
    non-empty value of each header counts."""
    traceparent = tracestate = b3_single = None
    multi: dict[bytes, bytes] | None = None  # made by the first B3 multi header (rare)
    for key, value in headers:
        low = key.lower()
        if low not in TRACE_HEADERS:
            continue
        if low == TRACEPARENT:
            traceparent = traceparent or value
        elif low == TRACESTATE:
            tracestate = tracestate or value
        elif low == B3:
            b3_single = b3_single or value
        else:
            if multi is None:
                multi = {}
            multi.setdefault(low, value)
    # B3 is answered in the form it came in, even when traceparent wins
    style = None if b3_single is None and multi is None else (
        "single" if b3_single is not None else "multi")
    fields = _traceparent_fields(traceparent) if traceparent is not None else None
    if fields is not None:
        _, trace_hex, span_hex, flags = fields
        return _context(IncomingContext, (
            trace_hex, span_hex, _FLAG_VALUES[flags],
            clean_tracestate(tracestate) if tracestate else None, style))
    if style is None:
        return NO_CONTEXT
    parent = parse_b3_single(b3_single) if b3_single is not None \
        else parse_b3_multi(multi or {})
    if parent is None:
        return IncomingContext(b"", b"", 0, None, style)
    return IncomingContext(b"%032x" % parent.trace_id, b"%016x" % parent.span_id,
                           parent.flags, None, style)
