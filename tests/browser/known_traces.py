"""The traces the browser tests search and open: three services, one failed trace.

    STATIC_ID   frontend                      GET /static         newest
    FAILED_ID   frontend, checkout, payments  GET /checkout       payments fails
    CART_ID     frontend, checkout            GET /cart           oldest

So filtering by service picks a known subset: payments -> FAILED_ID only,
checkout -> FAILED_ID and CART_ID, frontend -> all three.
"""

from __future__ import annotations

from storage.model import SpanRecord, SpanStatus
from tests.spans import MS, make_span
from ui.testing import InMemoryTraceReader, sample_trace

__all__ = [
    "ALL_IDS",
    "CART_ID",
    "FAILED_ID",
    "FAILED_WATERFALL_LABELS",
    "NOW_NS",
    "STATIC_ID",
    "known_trace_reader",
]

S = 1_000 * MS
T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
NOW_NS = T0 + 120 * S  # every known trace is in the search form's default "last hour"

STATIC_ID = "5a7c0000000000000000000000000001"
FAILED_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CART_ID = "ca270000000000000000000000000002"
ALL_IDS = (STATIC_ID, FAILED_ID, CART_ID)  # most recent first, as the results table lists them

# The waterfall's y-axis, top to bottom: tree order, errors marked with ⚠.
FAILED_WATERFALL_LABELS = (
    "⚠ frontend: GET /checkout",
    "frontend: POST checkout",
    "checkout: POST /checkout",
    "checkout: SELECT orders",
    "⚠ payments: POST /charge",
)


def _static_trace() -> list[SpanRecord]:
    return [
        make_span(trace_id=STATIC_ID, span_id="5a7c000000000001", service_name="frontend",
                  span_name="GET /static", timestamp_ns=T0 + 50 * S, duration_ns=3 * MS,
                  status_code=SpanStatus.OK),
    ]


def _cart_trace() -> list[SpanRecord]:
    root = make_span(trace_id=CART_ID, span_id="ca27000000000001", service_name="frontend",
                     span_name="GET /cart", timestamp_ns=T0 + 10 * S, duration_ns=40 * MS,
                     status_code=SpanStatus.OK)
    child = make_span(trace_id=CART_ID, span_id="ca27000000000002", parent_span_id=root.span_id,
                      service_name="checkout", span_name="GET /cart", span_kind="Server",
                      timestamp_ns=T0 + 10 * S + 5 * MS, duration_ns=30 * MS)
    return [root, child]


def known_trace_reader() -> InMemoryTraceReader:
    return InMemoryTraceReader(
        [*_static_trace(), *sample_trace(FAILED_ID, T0 + 30 * S, failed=True), *_cart_trace()]
    )
