"""search_traces against a real chdb store, one filter at a time, with known answers.

Every span carries the resource attribute `test.run=<tag>` and every search
filters by it, so data written by other tests in the shared store never matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import pytest

from storage import SearchOrder, SpanRecord, SpanStatus, Store, TraceSearchQuery
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns

S = 1_000 * MS


@dataclass(frozen=True)
class Dataset:
    tag: str
    traces: dict[str, str]  # name -> trace id
    front: str
    back: str
    db: str
    t0: int

    def query(
        self, attributes: list[tuple[str, str]] | None = None, **filters: Any
    ) -> TraceSearchQuery:
        run = ("test.run", self.tag)
        return TraceSearchQuery(attributes=(run, *(attributes or [])), **filters)

    def names(self, store: Store, **filters: Any) -> list[str]:
        by_id = {trace_id: name for name, trace_id in self.traces.items()}
        return [by_id[s.trace_id] for s in store.search_traces(self.query(**filters))]


@pytest.fixture(scope="module")
def data(chdb_store: Store) -> Dataset:
    tag = os.urandom(6).hex()
    front, back, db = f"{tag}-front", f"{tag}-back", f"{tag}-db"
    t0 = BASE_NS + 3_600 * S
    ids = {name: new_trace_id() for name in ("T1", "T2", "T3", "T4", "T5")}
    res = {"test.run": tag}

    def span(
        trace: str, at_s: float, resources: dict[str, str] | None = None, **kw: Any
    ) -> SpanRecord:
        resource_attributes = {**res, **(resources or {})}
        at = t0 + int(at_s * S)
        return make_span(
            trace_id=ids[trace], timestamp_ns=at, resource_attributes=resource_attributes, **kw
        )

    t1_root = span(
        "T1",
        0,
        service_name=front,
        span_name="GET /checkout",
        duration_ns=100 * MS,
        status_code=SpanStatus.OK,
    )
    t1_child = span(
        "T1",
        0.05,
        service_name=back,
        span_name="charge",
        parent_span_id=t1_root.span_id,
        duration_ns=80 * MS,
        status_code=SpanStatus.ERROR,
        span_attributes={"payment.method": "card"},
    )
    t2_root = span(
        "T2",
        10,
        service_name=front,
        span_name="GET /home",
        duration_ns=5 * MS,
        resources={"deployment": "canary"},
    )
    t3_root = span("T3", 20, service_name=front, span_name="GET /checkout", duration_ns=300 * MS)
    t3_child = span(
        "T3",
        20.01,
        service_name=db,
        span_name="SELECT",
        parent_span_id=t3_root.span_id,
        duration_ns=250 * MS,
        span_attributes={"db.system": "postgres"},
    )
    t4_root = span(
        "T4",
        30,
        service_name=back,
        span_name="charge",
        duration_ns=20 * MS,
        status_code=SpanStatus.OK,
        span_attributes={"payment.method": "cash"},
    )
    # T5 lost its root: its summary falls back to the earliest span.
    t5_a = span(
        "T5", 40.5, service_name=db, span_name="SELECT", parent_span_id="aa" * 8, duration_ns=1 * MS
    )
    t5_b = span(
        "T5", 40, service_name=back, span_name="refund", parent_span_id="bb" * 8, duration_ns=2 * MS
    )
    # Two batches, a trace split across them, as a collector would write them.
    chdb_store.write_spans(to_columns(t1_child, t2_root, t3_root, t5_a))
    chdb_store.write_spans(to_columns(t1_root, t3_child, t4_root, t5_b))
    return Dataset(tag=tag, traces=ids, front=front, back=back, db=db, t0=t0)


def test_no_filter_but_the_run_tag_finds_all_newest_first(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store) == ["T5", "T4", "T3", "T2", "T1"]


def test_service(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, service=data.front) == ["T3", "T2", "T1"]
    assert data.names(chdb_store, service=data.back) == ["T5", "T4", "T1"]
    assert data.names(chdb_store, service=f"{data.tag}-nobody") == []


def test_operation(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, operation="GET /checkout") == ["T3", "T1"]
    assert data.names(chdb_store, service=data.back, operation="charge") == ["T4", "T1"]
    assert data.names(chdb_store, service=data.front, operation="charge") == []


def test_span_and_resource_attributes(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, attributes=[("payment.method", "card")]) == ["T1"]
    assert data.names(chdb_store, attributes=[("payment.method", "cash")]) == ["T4"]
    assert data.names(chdb_store, attributes=[("deployment", "canary")]) == ["T2"]
    assert data.names(chdb_store, attributes=[("service.name", data.db)]) == ["T5", "T3"]
    # Both pairs must hold on the same span.
    both = [("payment.method", "card"), ("service.name", data.back)]
    assert data.names(chdb_store, attributes=both) == ["T1"]
    mismatch = [("payment.method", "card"), ("service.name", data.front)]
    assert data.names(chdb_store, attributes=mismatch) == []


def test_empty_value_means_present_and_empty_not_absent(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, attributes=[("payment.method", "")]) == []


def test_hostile_keys_and_values_are_just_strings(chdb_store: Store, data: Dataset) -> None:
    hostile = "x'] = '' OR 1=1 --"
    assert data.names(chdb_store, attributes=[(hostile, hostile)]) == []
    assert data.names(chdb_store, service=hostile) == []


def test_duration_of_the_matching_span(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, min_duration_ns=90 * MS) == ["T3", "T1"]
    assert data.names(chdb_store, max_duration_ns=5 * MS) == ["T5", "T2"]
    assert data.names(chdb_store, min_duration_ns=15 * MS, max_duration_ns=90 * MS) == ["T4", "T1"]
    assert data.names(chdb_store, service=data.db, min_duration_ns=250 * MS) == ["T3"]  # inclusive
    # T1's root (front) is 100 ms, its 80 ms span is on back: no single span matches both.
    assert data.names(chdb_store, service=data.back, min_duration_ns=90 * MS) == []


def test_status_of_the_matching_span(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, status=SpanStatus.ERROR) == ["T1"]
    assert data.names(chdb_store, status=SpanStatus.OK) == ["T4", "T1"]
    assert data.names(chdb_store, status=SpanStatus.ERROR, service=data.front) == []


def test_time_range_is_start_inclusive_end_exclusive(chdb_store: Store, data: Dataset) -> None:
    t0 = data.t0
    assert data.names(chdb_store, start_ns=t0 + 10 * S, end_ns=t0 + 30 * S) == ["T3", "T2"]
    assert data.names(chdb_store, start_ns=t0 + 30 * S) == ["T5", "T4"]
    assert data.names(chdb_store, end_ns=t0 + 1) == ["T1"]


def test_limit_keeps_the_newest(chdb_store: Store, data: Dataset) -> None:
    assert data.names(chdb_store, limit=2) == ["T5", "T4"]
    assert data.names(chdb_store, limit=1, service=data.front) == ["T3"]


def test_bad_query_is_refused_before_the_database(chdb_store: Store, data: Dataset) -> None:
    with pytest.raises(ValueError, match="limit"):
        chdb_store.search_traces(TraceSearchQuery(limit=0))


def test_summaries_describe_the_whole_trace(chdb_store: Store, data: Dataset) -> None:
    # Found through its back span only, T1 is still summarized from every span.
    [t1] = chdb_store.search_traces(data.query(attributes=[("payment.method", "card")]))
    assert t1.trace_id == data.traces["T1"]
    assert t1.start_ns == data.t0
    assert t1.duration_ns == 130 * MS  # the child ends after the root
    assert (t1.root_service, t1.root_operation) == (data.front, "GET /checkout")
    assert (t1.span_count, t1.error_count) == (2, 1)
    assert t1.services == tuple(sorted((data.front, data.back)))

    [t5] = chdb_store.search_traces(data.query(service=data.db, max_duration_ns=1 * MS))
    assert (t5.root_service, t5.root_operation) == (data.back, "refund")
    assert (t5.start_ns, t5.duration_ns) == (data.t0 + 40 * S, 501 * MS)
    assert (t5.span_count, t5.error_count) == (2, 0)


@pytest.mark.parametrize("order_by", ["time", "duration"])
def test_a_span_without_trace_id_is_never_a_result(chdb_store: Store, order_by: str) -> None:
    """Others may write the exporter's table: a span with no TraceId matches no trace,
    nor takes a trace's place (it is the newest and the longest, and the limit is 1)."""
    tag = os.urandom(6).hex()
    res = {"test.run": tag}
    kept = make_span(timestamp_ns=BASE_NS + 5 * MS, resource_attributes=res)
    orphan = make_span(timestamp_ns=BASE_NS + 6 * MS, duration_ns=10 * S, resource_attributes=res)
    chdb_store.write_spans(to_columns(kept, replace(orphan, trace_id="")))
    q = TraceSearchQuery(attributes=(("test.run", tag),), order_by=SearchOrder(order_by), limit=1)
    assert [s.trace_id for s in chdb_store.search_traces(q)] == [kept.trace_id]
