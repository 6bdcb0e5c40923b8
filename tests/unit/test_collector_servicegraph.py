"""Pairing of client and server spans across batches, with a fake clock: edges, callers,
waits that run out, and the bound on what may wait."""

from __future__ import annotations

from collector.processors.servicegraph import ServiceGraphProcessor
from collector.processors.spanmetrics import SpanMetricsAggregator, status_class
from storage.latency_histogram import bucket_index, bucket_upper_ns, quantile_ns
from tests.otlp_payloads import hop
from tests.spans import BASE_NS, MS, make_span, new_span_id, new_trace_id, to_columns


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def graph(wait_s: float = 2.0, max_entries: int = 1000) -> tuple[
    ServiceGraphProcessor, SpanMetricsAggregator, FakeClock
]:  # fmt: skip
    red, clock = SpanMetricsAggregator(), FakeClock()
    processor = ServiceGraphProcessor(red, clock=clock, wait_s=wait_s, max_entries=max_entries)
    return processor, red, clock


def a_hop(http_status: int = 200):  # type: ignore[no-untyped-def]
    return hop(
        trace_id=new_trace_id(), parent_span_id="", client="web", server="cart",
        operation="GET /cart", timestamp_ns=BASE_NS, server_ms=10, http_status=http_status,
    )  # fmt: skip


def red_by_caller(red: SpanMetricsAggregator) -> dict[str, int]:
    rows = red.take()
    result: dict[str, int] = {}
    for caller, requests in zip(rows.Caller, rows.Requests, strict=True):
        result[caller] = result.get(caller, 0) + requests
    return result


def test_pairs_in_either_order_across_batches() -> None:
    processor, red, clock = graph()
    first, second = a_hop(), a_hop(500)
    processor.consume(to_columns(first[1], second[0]))  # a server before its client
    clock.now += 1.0
    processor.consume(to_columns(first[0], second[1]))
    edges = processor.take_edges()
    assert (edges.Client, edges.Server, edges.Requests, edges.Errors) == (
        ["web"], ["cart"], [2], [1],
    )  # fmt: skip
    assert edges.DurationSumNs == [22 * MS]
    assert red_by_caller(red) == {"web": 2}
    assert processor.stats.paired == 2


def test_a_server_whose_parent_never_comes_has_caller_unknown_after_the_wait() -> None:
    processor, red, clock = graph(wait_s=2.0)
    _, server = a_hop()
    processor.consume(to_columns(server))
    processor.expire()
    assert red_by_caller(red) == {}  # still waiting
    clock.now += 2.5
    processor.expire()
    assert red_by_caller(red) == {"unknown": 1}
    assert processor.stats.unpaired_servers == 1
    assert processor.entries == 0


def test_unclaimed_clients_become_database_or_external_edges() -> None:
    processor, _, clock = graph()
    trace_id = new_trace_id()
    db = make_span(trace_id=trace_id, span_kind="Client", service_name="cart",
                   span_attributes={"db.system": "redis"})  # fmt: skip
    api = make_span(trace_id=trace_id, span_kind="Client", service_name="cart",
                    span_attributes={"server.address": "api.example.com"})  # fmt: skip
    bare = make_span(trace_id=trace_id, span_kind="Client", service_name="cart")
    processor.consume(to_columns(db, api, bare))
    clock.now += 10
    processor.expire()
    edges = processor.take_edges()
    assert sorted(zip(edges.Server, edges.ConnectionType, strict=True)) == [
        ("api.example.com", "external"), ("redis", "database"),
    ]  # fmt: skip
    assert processor.stats.unpaired_clients == 1


def test_root_server_spans_count_at_once_with_no_caller() -> None:
    processor, red, _ = graph()
    processor.consume(to_columns(make_span(span_kind="Server", service_name="web")))
    assert red_by_caller(red) == {"": 1}


def test_waiting_entries_are_bounded() -> None:
    processor, red, _ = graph(wait_s=60, max_entries=10)
    for _ in range(30):
        processor.consume(to_columns(make_span(
            span_kind="Server", parent_span_id=new_span_id(), service_name="cart")))  # fmt: skip
        assert processor.entries <= 10
    assert processor.stats.evicted >= 20
    assert red_by_caller(red)["unknown"] >= 10


def test_status_class() -> None:
    assert status_class("Unset", {"http.response.status_code": "503"}) == ("5xx", True)
    assert status_class("Unset", {"http.response.status_code": "404"}) == ("4xx", False)
    assert status_class("Error", {}) == ("error", True)
    assert status_class("Ok", {}) == ("ok", False)


def test_histogram_quantiles_are_at_most_one_bucket_above() -> None:
    values = [1_500_000 + i * 37_000 for i in range(200)]
    buckets: dict[int, int] = {}
    for value in values:
        buckets[bucket_index(value)] = buckets.get(bucket_index(value), 0) + 1
    for q in (0.5, 0.9, 0.99, 1.0):
        true_value = sorted(values)[max(0, int(q * 200 + 0.999999) - 1)]
        estimate = quantile_ns(buckets, q)
        assert estimate is not None and true_value <= estimate <= true_value * 1.0906
    assert bucket_index(1000) == 0 and bucket_upper_ns(8) == 2000
    assert quantile_ns({}, 0.5) is None
