"""How times, durations and ids read on every page."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

__all__ = [
    "SHORT_ID_LENGTH",
    "format_duration",
    "format_offset",
    "format_timestamp",
    "short_id",
    "trace_href",
]

SHORT_ID_LENGTH = 8


def format_duration(duration_ns: int) -> str:
    """`850 µs`, `12.3 ms`, `4.56 s`: about three significant figures."""
    if duration_ns < 0:
        return "-" + format_duration(-duration_ns)
    if duration_ns == 0:
        return "0 ms"
    if duration_ns < 1_000:
        return f"{duration_ns} ns"
    for unit, scale in (("µs", 1_000), ("ms", 1_000_000)):
        if duration_ns < scale * 1_000:
            return _three_figures(duration_ns / scale, unit)
    return _three_figures(duration_ns / 1_000_000_000, "s")


def format_offset(offset_ns: int) -> str:
    """A signed offset: `+12.0 ms`, `-850 µs`."""
    return format_duration(offset_ns) if offset_ns < 0 else "+" + format_duration(offset_ns)


def _three_figures(value: float, unit: str) -> str:
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def format_timestamp(timestamp_ns: int) -> str:
    """UTC wall time with milliseconds: `2025-01-31 14:05:09.123`."""
    moment = datetime.fromtimestamp(timestamp_ns // 1_000_000_000, tz=UTC)
    millis = timestamp_ns % 1_000_000_000 // 1_000_000
    return f"{moment:%Y-%m-%d %H:%M:%S}.{millis:03d}"


def short_id(trace_id: str) -> str:
    return trace_id[:SHORT_ID_LENGTH]


def trace_href(trace_id: str) -> str:
    """The trace page's path; the id is quoted because it may come from anywhere."""
    return "/trace/" + quote(trace_id, safe="")
