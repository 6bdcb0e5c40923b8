"""W3C Trace Context: parse and format ``traceparent``, carry ``tracestate``.

The proxy parses the incoming header itself (no OTel propagator on the hot path)
and formats the one it sends onwards from the new span's ids.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"

_HEX = frozenset("0123456789abcdef")
_VERSION_00_LENGTH = 55
_MAX_TRACESTATE_MEMBERS = 32
_MAX_TRACESTATE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class TraceParent:
    """One parsed ``traceparent`` value: ids as ints, flags as a byte."""

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
    version_hex = value[0:2]
    if not _is_lower_hex(version_hex) or version_hex == "ff":
        return None
    version = int(version_hex, 16)
    if version == 0 and len(value) != _VERSION_00_LENGTH:
        return None
    if len(value) > _VERSION_00_LENGTH and value[_VERSION_00_LENGTH] != "-":
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_hex, span_hex, flags_hex = value[3:35], value[36:52], value[53:55]
    if not (_is_lower_hex(trace_hex) and _is_lower_hex(span_hex) and _is_lower_hex(flags_hex)):
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
