"""Search form values -> TraceSearchQuery: units, windows, and every mistake reported."""

from __future__ import annotations

import pytest

from storage.model import SpanStatus, TraceSearchQuery
from ui.query_parsing import (
    QueryError,
    SearchFormValues,
    parse_attributes,
    parse_duration_ns,
    parse_search_form,
    parse_utc_time_ns,
)

NOW = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
S = 1_000_000_000


def test_defaults_search_the_last_hour_for_the_most_recent_twenty() -> None:
    assert parse_search_form(SearchFormValues(), NOW) == TraceSearchQuery(
        start_ns=NOW - 3600 * S, end_ns=NOW, limit=20
    )


def test_every_field_reaches_the_query() -> None:
    form = SearchFormValues(
        service="checkout",
        operation="POST /checkout",
        attributes='http.route=/checkout msg="card declined" empty=',
        min_duration="250",
        max_duration="1.5s",
        status="error",
        time_range="5m",
        limit=50,
    )
    assert parse_search_form(form, NOW) == TraceSearchQuery(
        service="checkout",
        operation="POST /checkout",
        attributes=(("http.route", "/checkout"), ("msg", "card declined"), ("empty", "")),
        min_duration_ns=250_000_000,
        max_duration_ns=1_500_000_000,
        status=SpanStatus.ERROR,
        start_ns=NOW - 300 * S,
        end_ns=NOW,
        limit=50,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250", 250_000_000),
        ("250ms", 250_000_000),
        (" 1.5 s ", 1_500_000_000),
        ("300us", 300_000),
        ("300µs", 300_000),
        ("42ns", 42),
        ("2m", 120_000_000_000),
        (".5ms", 500_000),
        ("0", 0),
        (12, 12_000_000),
        (0.25, 250_000),
        ("", None),
        (None, None),
    ],
)
def test_durations_are_milliseconds_unless_a_unit_says_otherwise(
    text: str | float | None, expected: int | None
) -> None:
    assert parse_duration_ns(text) == expected


@pytest.mark.parametrize("text", ["fast", "12x", "-5", "1.2.3", "5 hours", "ms"])
def test_bad_durations_name_the_field_and_the_text(text: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_duration_ns(text, "min duration")
    [problem] = caught.value.problems
    assert problem.startswith("min duration:")
    assert repr(text.strip()) in problem


def test_attribute_values_may_contain_equals_signs_and_quoted_spaces() -> None:
    assert parse_attributes("q=a=b  k='x y'") == (("q", "a=b"), ("k", "x y"))
    assert parse_attributes("   ") == ()


def test_each_bad_attribute_token_is_named() -> None:
    with pytest.raises(QueryError) as caught:
        parse_attributes("good=1 oops =missing-key also-bad")
    assert caught.value.problems == (
        "attributes: 'oops' is not key=value",
        "attributes: '=missing-key' is not key=value",
        "attributes: 'also-bad' is not key=value",
    )


def test_an_unclosed_quote_is_reported() -> None:
    with pytest.raises(QueryError, match="attributes: No closing quotation"):
        parse_attributes('k="open')


def test_all_problems_in_the_form_are_reported_at_once() -> None:
    form = SearchFormValues(
        attributes="nokey",
        min_duration="slow",
        max_duration="soon",
        status="broken",
        limit="lots",
    )
    with pytest.raises(QueryError) as caught:
        parse_search_form(form, NOW)
    fields = [problem.split(":")[0] for problem in caught.value.problems]
    assert fields == ["attributes", "min duration", "max duration", "status", "limit"]
    assert "'nokey'" in str(caught.value)


def test_min_above_max_is_a_problem() -> None:
    with pytest.raises(QueryError, match="min duration is greater than max duration"):
        parse_search_form(SearchFormValues(min_duration="2s", max_duration="1s"), NOW)


def test_custom_range_reads_utc_times_and_either_end_may_be_open() -> None:
    form = SearchFormValues(
        time_range="custom", custom_start="2024-12-31 23:00", custom_end="2024-12-31T23:30:00.5"
    )
    query = parse_search_form(form, NOW)
    assert query.start_ns == NOW - 3600 * S
    assert query.end_ns == NOW - 1800 * S + S // 2
    open_ended = parse_search_form(SearchFormValues(time_range="custom", custom_end=""), NOW)
    assert (open_ended.start_ns, open_ended.end_ns) == (None, None)
    assert parse_utc_time_ns("2025-01-01T01:00:00+01:00") == NOW


def test_custom_range_errors() -> None:
    form = SearchFormValues(time_range="custom", custom_start="yesterday", custom_end="2025-01-01")
    with pytest.raises(QueryError, match="custom start: 'yesterday' is not a time"):
        parse_search_form(form, NOW)
    backwards = SearchFormValues(
        time_range="custom", custom_start="2025-01-02", custom_end="2025-01-01"
    )
    with pytest.raises(QueryError, match="custom start is after custom end"):
        parse_search_form(backwards, NOW)
    with pytest.raises(QueryError, match="time range: '2d' is not one of"):
        parse_search_form(SearchFormValues(time_range="2d"), NOW)


@pytest.mark.parametrize(("value", "expected"), [(None, 20), ("", 20), (5, 5), ("100", 100),
                                                 (7.0, 7)])
def test_limit(value: str | float | None, expected: int) -> None:
    assert parse_search_form(SearchFormValues(limit=value), NOW).limit == expected


@pytest.mark.parametrize("value", [0, -1, 1001, 2.5, "ten"])
def test_limit_out_of_range(value: str | float) -> None:
    with pytest.raises(QueryError, match="limit:"):
        parse_search_form(SearchFormValues(limit=value), NOW)


@pytest.mark.parametrize(
    ("choice", "status"),
    [("any", None), (None, None), ("error", SpanStatus.ERROR), ("ok", SpanStatus.OK),
     ("unset", SpanStatus.UNSET)],
)
def test_status_choices(choice: str | None, status: SpanStatus | None) -> None:
    assert parse_search_form(SearchFormValues(status=choice), NOW).status == status
