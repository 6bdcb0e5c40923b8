"""Search form values -> `TraceSearchQuery`. Pure: no Dash, no clock reads.

Every problem in the form is collected and reported at once, each naming the
field and the text it could not read (STYLE 3); nothing is silently dropped.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from storage.model import SpanStatus, TraceSearchQuery

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "STATUS_CHOICES",
    "TIME_RANGES",
    "QueryError",
    "SearchFormValues",
    "parse_attributes",
    "parse_duration_ns",
    "parse_search_form",
    "parse_utc_time_ns",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000

# Time range choice -> lookback in seconds; "custom" reads the start/end fields.
TIME_RANGES: dict[str, int | None] = {
    "5m": 5 * 60,
    "15m": 15 * 60,
    "1h": 60 * 60,
    "6h": 6 * 60 * 60,
    "24h": 24 * 60 * 60,
    "custom": None,
}

STATUS_CHOICES: dict[str, SpanStatus | None] = {
    "any": None,
    "error": SpanStatus.ERROR,
    "ok": SpanStatus.OK,
    "unset": SpanStatus.UNSET,
}

_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
}
_DURATION_RE = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[a-zµ]*)\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_T = TypeVar("_T")
_UNITS_HINT = "a number of milliseconds, or a number with a unit: ns, us, ms, s, m"


class QueryError(ValueError):
    """The form could not be read; `problems` has one message per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class SearchFormValues:
    """The search form as the browser sends it: raw, possibly empty values."""

    service: str | None = None
    operation: str | None = None
    attributes: str | None = None
    min_duration: str | int | float | None = None
    max_duration: str | int | float | None = None
    status: str | None = "any"
    time_range: str | None = "1h"
    custom_start: str | None = None
    custom_end: str | None = None
    limit: str | int | float | None = DEFAULT_LIMIT


def parse_attributes(text: str | None) -> tuple[tuple[str, str], ...]:
    """`k=v` pairs separated by spaces; quote values with spaces: `k="a b"`."""
    if not text or not text.strip():
        return ()
    try:
        tokens = shlex.split(text)
    except ValueError as exc:  # only unbalanced quotes get here
        raise QueryError([f"attributes: {exc} in {text.strip()!r}"]) from exc
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key.strip():
            problems.append(f"attributes: {token!r} is not key=value")
        else:
            pairs.append((key.strip(), value))
    if problems:
        raise QueryError(problems)
    return tuple(pairs)


def parse_duration_ns(value: str | int | float | None, field: str = "duration") -> int | None:
    """A duration in ns; a bare number is milliseconds. Empty means no filter."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise QueryError([f"{field}: {value!r} is not a duration ({_UNITS_HINT})"])
        return round(value * _DURATION_UNITS_NS["ms"])
    match = _DURATION_RE.match(value.lower())
    unit = (match.group("unit") or "ms") if match else ""
    if match is None or unit not in _DURATION_UNITS_NS:
        raise QueryError([f"{field}: {value.strip()!r} is not a duration ({_UNITS_HINT})"])
    return round(float(match.group("number")) * _DURATION_UNITS_NS[unit])


def parse_utc_time_ns(value: str | None, field: str = "time") -> int | None:
    """An ISO 8601 time (`2025-01-31 14:05`); without an offset it is UTC."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise QueryError(
            [f"{field}: {value.strip()!r} is not a time like 2025-01-31 14:05 (UTC)"]
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1_000


def parse_search_form(form: SearchFormValues, now_ns: int) -> TraceSearchQuery:
    """The query for `form` at time `now_ns`; raises `QueryError` with every problem."""
    problems: list[str] = []

    def attempt(parse: Callable[[], _T], default: _T) -> _T:
        try:
            return parse()
        except QueryError as exc:
            problems.extend(exc.problems)
            return default

    no_attributes: tuple[tuple[str, str], ...] = ()
    attributes = attempt(lambda: parse_attributes(form.attributes), no_attributes)
    min_ns = attempt(lambda: parse_duration_ns(form.min_duration, "min duration"), None)
    max_ns = attempt(lambda: parse_duration_ns(form.max_duration, "max duration"), None)
    if min_ns is not None and max_ns is not None and min_ns > max_ns:
        problems.append("duration: min duration is greater than max duration")

    status_choice = form.status or "any"
    if status_choice not in STATUS_CHOICES:
        problems.append(f"status: {status_choice!r} is not one of {', '.join(STATUS_CHOICES)}")
    status = STATUS_CHOICES.get(status_choice)

    no_window: tuple[int | None, int | None] = (None, None)
    start_ns, end_ns = attempt(lambda: _time_window(form, now_ns), no_window)
    limit = attempt(lambda: _limit(form.limit), DEFAULT_LIMIT)

    if problems:
        raise QueryError(problems)
    return TraceSearchQuery(
        service=form.service or None,
        operation=form.operation or None,
        attributes=attributes,
        min_duration_ns=min_ns,
        max_duration_ns=max_ns,
        status=status,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
    )


def _time_window(form: SearchFormValues, now_ns: int) -> tuple[int | None, int | None]:
    choice = form.time_range or "1h"
    if choice not in TIME_RANGES:
        raise QueryError([f"time range: {choice!r} is not one of {', '.join(TIME_RANGES)}"])
    lookback_s = TIME_RANGES[choice]
    if lookback_s is not None:
        return now_ns - lookback_s * 1_000_000_000, now_ns
    problems: list[str] = []
    bounds: list[int | None] = []
    for field, text in (("custom start", form.custom_start), ("custom end", form.custom_end)):
        try:
            bounds.append(parse_utc_time_ns(text, field))
        except QueryError as exc:
            problems.extend(exc.problems)
            bounds.append(None)
    start_ns, end_ns = bounds
    if start_ns is not None and end_ns is not None and start_ns > end_ns:
        problems.append("time range: custom start is after custom end")
    if problems:
        raise QueryError(problems)
    return start_ns, end_ns


def _limit(value: str | int | float | None) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_LIMIT
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number.is_integer() or not 1 <= number <= MAX_LIMIT:
        raise QueryError([f"limit: {value!r} is not a whole number from 1 to {MAX_LIMIT}"])
    return int(number)
