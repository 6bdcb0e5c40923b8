"""W3C Trace Context: parse and format ``traceparent``, carry ``tracestate``.

The proxy parses the incoming header itself (no OTel propagator on the hot path)
and formats the one it sends onwards from the new span's ids.
"""

from __future__ import annotations

import binascii
import os
import re
from typing import NamedTuple

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"

_HEX = frozenset("0123456789abcdef")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_VERSION_00_LENGTH = 55
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
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    value = value.strip(" \t")
    if len(value) < _VERSION_00_LENGTH:
        return None
    fields = _TRACEPARENT.match(value)  # lowercase hex and dashes in their places
    if fields is None:
        return None
    version_hex, trace_hex, span_hex, flags_hex = fields.groups()
    if version_hex == "ff":
        return None
    version = int(version_hex, 16)
    if version == 0 and len(value) != _VERSION_00_LENGTH:
        return None
    if len(value) > _VERSION_00_LENGTH and value[_VERSION_00_LENGTH] != "-":
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return TraceParent(trace_id=trace_id, span_id=span_id, flags=int(flags_hex, 16),
                       version=version)


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
    """The parent a request carries and the propagation formats to answer in."""

    parent: TraceParent | None
    tracestate: str | None
    b3: str | None  # "single", "multi" or None: forwarded in the form it came in


NO_CONTEXT = IncomingContext(None, None, None)  # a request without trace headers


def extract(headers: list[tuple[bytes, bytes]]) -> IncomingContext:
    """W3C ``traceparent`` wins when valid; otherwise B3 single, then B3 multi."""
    traceparent = tracestate = b3_single = None
    multi: dict[bytes, bytes] = {}
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
            multi.setdefault(low, value)
    if traceparent is None and b3_single is None and not multi:
        return NO_CONTEXT
    style = "single" if b3_single is not None else ("multi" if multi else None)
    parent = parse_traceparent(traceparent)
    if parent is not None:
        return IncomingContext(parent, clean_tracestate(tracestate), style)
    parent = parse_b3_single(b3_single) if b3_single is not None else parse_b3_multi(multi)
    return IncomingContext(parent, None, style)
