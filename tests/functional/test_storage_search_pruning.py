"""How searches avoid reading every span (storage/queries/trace_search.py), with the
answers of one query over every span: newest first, window by window, whichever
windows the matching spans fall in; by duration, among the longest spans first.

Every span carries the resource attribute `test.run=<tag>` and every search
filters by it, so data written by other tests in the shared store never matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from storage import SearchOrder, SpanStatus, Store, TraceSearchQuery
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns

HOUR = 3_600_000 * MS
# Where the traces' spans start, in hours before the anchor: one trace in each
# window (the last hour, 1-4 h, 4-16 h, older), and "both" matching in two.
OFFSETS_H = {"h0": [0.5], "h2": [2.0], "h10": [10.0], "h40": [40.0], "both": [30.0, 0.25]}
# Ranked by the newest matching span; listed by trace start, newest first.
RANKED = ["both", "h0", "h2", "h10", "h40"]


def listed(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: max(OFFSETS_H[name]))


@dataclass(frozen=True)
class Dataset:
    tag: str
    ids: dict[str, str]
    anchor: int  # just after the newest span

    def names(self, store: Store, **filters: Any) -> list[str]:
        by_id = {trace_id: name for name, trace_id in self.ids.items()}
        q = TraceSearchQuery(attributes=(("test.run", self.tag),), **filters)
        return [by_id[s.trace_id] for s in store.search_traces(q)]


@pytest.fixture(scope="module")
def data(chdb_store: Store) -> Dataset:
    tag = os.urandom(6).hex()
    anchor = BASE_NS + 100 * HOUR
    ids = {name: new_trace_id() for name in OFFSETS_H}
    spans = [
        make_span(
            trace_id=ids[name],
            timestamp_ns=anchor - int(hours * HOUR),
            service_name=f"{tag}-svc",
            span_name="GET /",
            resource_attributes={"test.run": tag},
            status_code=SpanStatus.ERROR if name == "h10" else SpanStatus.UNSET,
        )
        for name, offsets in OFFSETS_H.items()
        for hours in offsets
    ]
    chdb_store.write_spans(to_columns(*spans))
    return Dataset(tag=tag, ids=ids, anchor=anchor)


def test_all_windows_newest_match_first(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store) == ["h0", "h2", "h10", "both", "h40"]
    assert data.names(chdb_store, end_ns=data.anchor) == ["h0", "h2", "h10", "both", "h40"]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5])
def test_limit_stops_in_the_window_that_fills_it(
    chdb_store: Store, data: Dataset, limit: int
) -> None:
    # "both" ranks by its newest matching span (0.25 h), so it is found first
    expected = listed(RANKED[:limit])
    assert data.names(chdb_store, limit=limit) == expected
    assert data.names(chdb_store, end_ns=data.anchor, limit=limit) == expected


def test_a_trace_matched_again_in_an_older_window_is_listed_once(
    chdb_store: Store, data: Dataset
) -> None:
    # with an end before its newer span, "both" matches only in the oldest window
    end = data.anchor - HOUR
    assert data.names(chdb_store, end_ns=end) == ["h2", "h10", "both", "h40"]
    assert data.names(chdb_store, end_ns=end, limit=3) == ["h2", "h10", "both"]
    assert data.names(chdb_store, start_ns=data.anchor - 20 * HOUR) == ["h0", "h2", "h10", "both"]


def test_filters_apply_in_every_window(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, status=SpanStatus.ERROR) == ["h10"]


def test_by_duration_is_one_query_over_the_range(chdb_store: Store, data: Dataset) -> None:
    names = data.names(chdb_store, order_by=SearchOrder.DURATION)
    assert sorted(names) == sorted(OFFSETS_H)


@pytest.mark.parametrize(
    ("durations_ms", "limit", "expected"),
    [
        # the 4 longest spans are of 3 traces: A, B, C; the top 2 of them are exact
        ({"A": [900, 800], "B": [700], "C": [600], "D": [500]}, 2, ["A", "B"]),
        ({"A": [900, 800], "B": [700], "C": [600], "D": [500]}, 4, ["A", "B", "C", "D"]),
        # the 4 longest spans are all of A: B is found by the search over every span
        ({"A": [900, 850, 800, 750], "B": [100]}, 2, ["A", "B"]),
        ({"A": [900, 850, 800, 750], "B": [100]}, 5, ["A", "B"]),
    ],
)
def test_by_duration_the_longest_spans_first_then_all(
    chdb_store: Store, durations_ms: dict[str, list[int]], limit: int, expected: list[str]
) -> None:
    tag = os.urandom(6).hex()
    ids = {name: new_trace_id() for name in durations_ms}
    spans = [
        make_span(trace_id=ids[name], timestamp_ns=BASE_NS + i * MS, duration_ns=ms * MS,
                  service_name=f"{tag}-svc", resource_attributes={"test.run": tag})
        for name, all_ms in durations_ms.items()
        for i, ms in enumerate(all_ms)
    ]  # fmt: skip
    chdb_store.write_spans(to_columns(*spans))
    by_id = {trace_id: name for name, trace_id in ids.items()}
    q = TraceSearchQuery(service=f"{tag}-svc", order_by=SearchOrder.DURATION, limit=limit)
    assert [by_id[s.trace_id] for s in chdb_store.search_traces(q)] == expected
