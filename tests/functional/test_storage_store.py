"""Writes, trace by id, catalog and lifecycle of a real chdb store."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from storage import (
    SpanColumns,
    SpanEvent,
    SpanLink,
    SpanStatus,
    Store,
    StoreClosedError,
    open_store,
)
from storage.connection import connect
from storage.url import parse_storage_url
from tests.spans import BASE_NS, MS, make_span, new_span_id, new_trace_id, to_columns

HOUR = 3_600_000 * MS


def index_rows(store: Store, trace_id: str) -> int:
    client = connect(parse_storage_url(store.url))
    try:
        sql = "SELECT count() FROM meshlens.otel_traces_trace_id_ts WHERE TraceId = {t:String}"
        return int(client.query(sql, parameters={"t": trace_id}).result_rows[0][0])
    finally:
        client.close()


def test_trace_by_id_across_batches_and_days(chdb_store: Store) -> None:
    trace_id = new_trace_id()
    t0 = BASE_NS + 5 * HOUR
    root = make_span(trace_id=trace_id, timestamp_ns=t0, duration_ns=30 * HOUR)
    child = make_span(
        trace_id=trace_id, parent_span_id=root.span_id, timestamp_ns=t0 + MS, service_name="db"
    )
    # Arrives a day later, in another partition, in a later batch.
    late = make_span(
        trace_id=trace_id, parent_span_id=root.span_id, timestamp_ns=t0 + 25 * HOUR,
        status_code=SpanStatus.ERROR, status_message="timeout",
    )  # fmt: skip
    other = make_span(timestamp_ns=t0 + 2 * MS)  # another trace in the same batch
    chdb_store.write_spans(to_columns(child, other))
    chdb_store.write_spans(to_columns(late, root))

    assert index_rows(chdb_store, trace_id) == 2  # one row per batch: readers must aggregate
    assert chdb_store.get_trace(trace_id) == [root, child, late]
    assert chdb_store.get_trace(trace_id.upper()) == [root, child, late]
    assert chdb_store.get_trace(other.trace_id) == [other]


def test_unknown_trace_is_empty(chdb_store: Store) -> None:
    assert chdb_store.get_trace(new_trace_id()) == []
    assert chdb_store.get_trace("") == []


def test_every_field_round_trips_with_nanoseconds(chdb_store: Store) -> None:
    span = make_span(
        timestamp_ns=BASE_NS + 123_456_789,
        duration_ns=987_654_321,
        span_kind="Client",
        status_code=SpanStatus.ERROR,
        status_message="upstream reset",
        trace_state="vendor=x",
        span_attributes={"http.request.method": "GET", "http.response.status_code": "503"},
        resource_attributes={"service.version": "v2"},
        scope_name="meshlens.proxy",
        scope_version="1.2.3",
        events=(
            SpanEvent(BASE_NS + 123_456_790, "retry", {"attempt": "1"}),
            SpanEvent(BASE_NS + 123_456_791, "give up"),
        ),
        links=(SpanLink(new_trace_id(), new_span_id(), "k=v", {"why": "fan-in"}),),
    )
    chdb_store.write_spans(to_columns(span))
    assert chdb_store.get_trace(span.trace_id) == [span]


def test_services_and_operations(chdb_store: Store) -> None:
    tag = os.urandom(6).hex()
    api, worker = f"{tag}-api", f"{tag}-worker"
    chdb_store.write_spans(
        to_columns(
            make_span(service_name=api, span_name="POST /jobs"),
            make_span(service_name=api, span_name="GET /jobs"),
            make_span(service_name=api, span_name="GET /jobs"),
            make_span(service_name=worker, span_name="run"),
        )
    )
    services = chdb_store.services()
    assert services == sorted(services)
    assert {api, worker} <= set(services)
    assert chdb_store.operations(api) == ["GET /jobs", "POST /jobs"]
    assert chdb_store.operations(worker) == ["run"]
    assert chdb_store.operations(f"{tag}-nobody") == []
    assert {"GET /jobs", "POST /jobs", "run"} <= set(chdb_store.operations())


def test_count_and_empty_batch(chdb_store: Store) -> None:
    before = chdb_store.count_spans()
    chdb_store.write_spans(SpanColumns())
    assert chdb_store.count_spans() == before
    chdb_store.write_spans(to_columns(make_span(), make_span(), make_span()))
    assert chdb_store.count_spans() == before + 3


def test_ragged_batch_is_refused_whole(chdb_store: Store) -> None:
    before = chdb_store.count_spans()
    batch = to_columns(make_span(), make_span())
    batch.Duration.pop()
    with pytest.raises(ValueError, match=r"SpanColumns\.Duration"):
        chdb_store.write_spans(batch)
    assert chdb_store.count_spans() == before


def test_concurrent_writers_from_threads(chdb_store: Store) -> None:
    trace_id = new_trace_id()
    batches = [
        to_columns(make_span(trace_id=trace_id, timestamp_ns=BASE_NS + i * MS)) for i in range(16)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(chdb_store.write_spans, batches))
    assert len(chdb_store.get_trace(trace_id)) == 16


def test_close_is_safe_twice_and_then_refuses_work(chdb_store: Store) -> None:
    store = open_store(chdb_store.url)
    store.close()
    store.close()
    with pytest.raises(StoreClosedError):
        store.count_spans()
    assert chdb_store.count_spans() >= 0  # the shared store is untouched
