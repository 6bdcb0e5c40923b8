"""What read queries share: checks of a row limit and a time range (each named when
wrong), and the WHERE conditions of the optional filters a query was given."""

from __future__ import annotations

from collections.abc import Iterable

INT64_MAX = 2**63 - 1


def limit_problems(limit: object, most: int) -> list[str]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        return [f"limit: must be 1..{most}, got {limit!r}"]
    return []


def time_range_problems(start_ns: object, end_ns: object) -> list[str]:
    """Nanoseconds since the epoch, either end open (None), `end_ns` after `start_ns`."""
    problems: list[str] = []
    for name, value in (("start_ns", start_ns), ("end_ns", end_ns)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX
        ):
            problems.append(f"{name}: must be 0..{INT64_MAX}, got {value!r}")
    if (
        not problems
        and isinstance(start_ns, int)
        and isinstance(end_ns, int)
        and end_ns <= start_ns
    ):
        problems.append(f"end_ns: {end_ns} must be after start_ns {start_ns}")
    return problems


def given_filters(
    q: object, filters: Iterable[tuple[str, str]]
) -> tuple[list[str], dict[str, object]]:
    """The conditions of every (field of `q`, condition) whose field is not None, and the
    query parameters they take (named after the field)."""
    conditions: list[str] = []
    params: dict[str, object] = {}
    for name, condition in filters:
        value = getattr(q, name)
        if value is not None:
            conditions.append(condition)
            params[name] = value
    return conditions, params
