"""Span-level questions on a real chdb store, with known answers: search by regex,
version and duration order; attribute suggestions; slowest traces; canary samples;
trace comparison. Every service name carries a random tag, so other tests' data
in the shared store never matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from storage import (
    AttributeFilter,
    SearchOrder,
    SpanRecord,
    SpanStatus,
    Store,
    TraceSearchQuery,
    VersionSamplesQuery,
)
from tests.spans import BASE_NS, MS, make_span, new_trace_id, to_columns

S = 1_000 * MS


@dataclass(frozen=True)
class Shop:
    tag: str
    api: str
    pay: str
    t0: int
    traces: dict[str, str]  # name -> trace id


@pytest.fixture(scope="module")
def shop(chdb_store: Store) -> Shop:
    tag = os.urandom(6).hex()
    api, pay = f"{tag}-api", f"{tag}-pay"
    t0 = BASE_NS + 7_200 * S
    ids = {name: new_trace_id() for name in ("A", "B", "C", "D")}
    spans: list[SpanRecord] = []

    def add(trace: str, at_s: float, service: str, op: str, ms: int, **kw: object) -> SpanRecord:
        span = make_span(
            trace_id=ids[trace], timestamp_ns=t0 + int(at_s * S), service_name=service,
            span_name=op, duration_ns=ms * MS, **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        spans.append(span)
        return span

    v1, v2 = {"service.version": "v1"}, {"service.version": "v2"}
    ok, failed = {"http.response.status_code": "200"}, {"http.response.status_code": "503"}
    a = add("A", 0, api, "GET /cart", 50, resource_attributes=v1,
            span_attributes={"http.route": "/cart", **ok})  # fmt: skip
    add("A", 0.01, pay, "authorize", 30, parent_span_id=a.span_id, span_kind="Client")
    b = add("B", 10, api, "GET /cart", 400, resource_attributes=v2,
            span_attributes={"http.route": "/cart/42", **failed})  # fmt: skip
    add("B", 10.01, pay, "authorize", 20, parent_span_id=b.span_id, span_kind="Client")
    add("B", 10.1, pay, "authorize", 300, parent_span_id=b.span_id, span_kind="Client",
        status_code=SpanStatus.ERROR)  # fmt: skip
    add("C", 20, api, "POST /order", 120, resource_attributes=v2,
        span_attributes={"http.route": "/order", "http.response.status_code": "201"})  # fmt: skip
    add("D", 30, api, "GET /cart", 90, resource_attributes=v1,
        span_attributes={"http.route": "/cart", "http.response.status_code": "200",
                         "blob": "x" * 500})  # fmt: skip
    chdb_store.write_spans(to_columns(*spans))
    return Shop(tag, api, pay, t0, ids)


def names(shop: Shop, store: Store, **filters: object) -> list[str]:
    by_id = {v: k for k, v in shop.traces.items()}
    q = TraceSearchQuery(service=filters.pop("service", shop.api), **filters)  # type: ignore[arg-type]
    return [by_id[s.trace_id] for s in store.search_traces(q)]


def test_attribute_regex_on_span_and_resource(chdb_store: Store, shop: Shop) -> None:
    assert names(shop, chdb_store, attribute_patterns=(("http.route", "^/cart"),)) == [
        "D", "B", "A",
    ]  # fmt: skip
    assert names(shop, chdb_store, attribute_patterns=(("http.route", r"/\d+$"),)) == ["B"]
    assert names(shop, chdb_store, attribute_patterns=(("service.version", "^v[2-9]"),)) == [
        "C", "B",
    ]  # fmt: skip
    assert names(shop, chdb_store, attribute_patterns=(("nope", ".*"),)) == []


def test_version(chdb_store: Store, shop: Shop) -> None:
    assert names(shop, chdb_store, version="v1") == ["D", "A"]
    assert names(shop, chdb_store, version="v2", operation="GET /cart") == ["B"]
    assert names(shop, chdb_store, service=shop.pay, version="v1") == []  # pay has no version


def test_order_by_duration(chdb_store: Store, shop: Shop) -> None:
    assert names(shop, chdb_store, order_by=SearchOrder.DURATION) == ["B", "C", "D", "A"]
    assert names(shop, chdb_store, order_by=SearchOrder.DURATION, limit=2) == ["B", "C"]
    # Ranked by the matching span: pay's slowest authorize is in B, then A's 30 ms.
    assert names(shop, chdb_store, service=shop.pay, order_by="duration") == ["B", "A"]


def test_attribute_keys_and_values_from_the_metadata_table(chdb_store: Store, shop: Shop) -> None:
    keys = {k.text: k.spans for k in chdb_store.attribute_keys(AttributeFilter(service=shop.api))}
    assert keys == {
        "http.route": 4, "http.response.status_code": 4, "blob": 1,
        "service.name": 4, "service.version": 4,
    }  # fmt: skip
    routes = chdb_store.attribute_values("http.route", AttributeFilter(service=shop.api))
    assert [(v.text, v.spans) for v in routes] == [("/cart", 2), ("/cart/42", 1), ("/order", 1)]
    typed = AttributeFilter(service=shop.api, prefix="/cart/")
    assert [v.text for v in chdb_store.attribute_values("http.route", typed)] == ["/cart/42"]
    assert chdb_store.attribute_values("blob", AttributeFilter(service=shop.api)) == []  # too long
    prefixed = chdb_store.attribute_keys(AttributeFilter(service=shop.api, prefix="http.r"))
    assert [k.text for k in prefixed] == ["http.response.status_code", "http.route"]  # ties by key
    assert shop.api in [
        v.text for v in chdb_store.attribute_values("service.name", AttributeFilter(limit=1000))
    ]
    day_s = shop.t0 // 1_000_000_000
    later = AttributeFilter(service=shop.api, start_s=day_s + 3 * 86_400)
    assert chdb_store.attribute_keys(later) == []


def test_slowest_traces_per_operation(chdb_store: Store, shop: Shop) -> None:
    end = shop.t0 + 3_600 * S
    slow = chdb_store.slowest_traces(shop.api, shop.t0, end, per_operation=2)
    got = [(s.operation, s.trace_id, s.duration_ns // MS) for s in slow]
    t = shop.traces
    assert got == [
        ("GET /cart", t["B"], 400),
        ("GET /cart", t["D"], 90),
        ("POST /order", t["C"], 120),
    ]
    # B calls authorize twice: it counts once, with its slower call.
    pay = chdb_store.slowest_traces(shop.pay, shop.t0, end, operation="authorize")
    assert [(s.trace_id, s.duration_ns // MS, s.status_code) for s in pay] == [
        (t["B"], 300, "Error"), (t["A"], 30, "Unset"),
    ]  # fmt: skip
    assert chdb_store.slowest_traces(shop.api, shop.t0 + 31 * S, end) == []


def test_samples_for_two_versions(chdb_store: Store, shop: Shop) -> None:
    q = VersionSamplesQuery(shop.api, "v1", "v2", shop.t0, shop.t0 + 3_600 * S)
    samples = chdb_store.version_samples(q)
    assert [(s.duration_ns // MS, s.error, s.http_status) for s in samples.baseline] == [
        (90, False, 200), (50, False, 200),
    ]  # fmt: skip
    assert [(s.duration_ns // MS, s.error, s.http_status) for s in samples.canary] == [
        (120, False, 201), (400, True, 503),
    ]  # fmt: skip
    assert samples.canary[0].timestamp_ns == shop.t0 + 20 * S
    limited = chdb_store.version_samples(
        VersionSamplesQuery(shop.api, "v1", "v2", shop.t0, shop.t0 + 3_600 * S, limit=1)
    )
    assert (len(limited.baseline), len(limited.canary)) == (1, 1)
    one_op = chdb_store.version_samples(
        VersionSamplesQuery(shop.api, "v1", "v2", shop.t0, shop.t0 + 15 * S, operation="GET /cart")
    )
    assert [s.duration_ns // MS for s in one_op.baseline + one_op.canary] == [50, 400]
    with pytest.raises(ValueError, match="canary_version"):
        chdb_store.version_samples(VersionSamplesQuery(shop.api, "v1", "v1", 0, 1))


def test_compare_two_traces(chdb_store: Store, shop: Shop) -> None:
    cmp = chdb_store.compare_traces(shop.traces["A"], shop.traces["B"])
    rows = [
        (r.path[-1][1], r.depth, r.occurrence,
         r.a and r.a.duration_ns // MS, r.b and r.b.duration_ns // MS)
        for r in cmp.rows
    ]  # fmt: skip
    assert rows == [
        ("GET /cart", 0, 0, 50, 400),
        ("authorize", 1, 0, 30, 20),
        ("authorize", 1, 1, None, 300),  # B's retry has no partner in A
    ]
    assert cmp.rows[0].delta_ns == 350 * MS
    assert [r.b.span_name for r in cmp.only_in_b if r.b] == ["authorize"]
    assert cmp.only_in_a == ()
    empty = chdb_store.compare_traces(shop.traces["C"], new_trace_id())
    assert [(r.a is not None, r.b) for r in empty.rows] == [(True, None)]
